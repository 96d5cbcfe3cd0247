"""Fit the time-to-accuracy model before round 0 (docs/convergence-bound.md, "Planning for time to accuracy").

A short FedAvg trial at the initial model on the satellites' data: a few seeded satellites run e local SGD
steps at the run's learning rate, for e in {1, 2, 4, 8} within the step bounds and two batch sizes B (the run's
smallest batch and four times it, within its bounds and the satellites' data); their models are averaged and
the loss decrease on a pooled probe sample (:class:`fedspan.calibration.PooledSample`) measured. The round's
progress is modelled as ``c e^a B^b``: ``log decrease = log c + a log e + b log B`` is fitted by least squares
and a, b clipped to [0.05, 1] and [0, 1]. The same mini-batch draws serve every e (one trajectory of 8 steps
per batch size, read after 1, 2, 4 and 8 steps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, vmap

from fedspan.calibration import CalibrationError, LossFn, PooledSample
from optimization.progress_model import ProgressModel

#: Local step counts of the FedAvg trial (those within the run's step bounds are used).
TRIAL_STEPS = (1, 2, 4, 8)
#: Ranges the fitted step and batch exponents are clipped to.
EXPONENT_RANGE = (0.05, 1.0)
BATCH_EXPONENT_RANGE = (0.0, 1.0)
#: The trial's larger batch is this multiple of the smallest (within the batch bounds and the data).
BATCH_RATIO = 4


@dataclass(frozen=True)
class ProbeResult:
    """The fitted model and what the probe saw (noise trace, squared gradient, decreases per e, seconds)."""

    model: ProgressModel
    diagnostics: dict = field(default_factory=dict, compare=False)


def fit_exponents(steps: Sequence[int], batches: Sequence[int], decreases: Sequence[float]) -> tuple[float, float]:
    """Least-squares (a, b) of ``log decrease = log c + a log e + b log B`` over trial points (e, B, decrease),
    clipped to ``EXPONENT_RANGE`` and ``BATCH_EXPONENT_RANGE``; an exponent within one standard error of zero
    counts as zero (then clipped), since the trial did not measure it.

    Decreases at or below zero are floored at 1e-3 of the largest; none above zero gives the low ends. With one
    batch size the batch exponent is 0 (nothing measured it).

    >>> a, b = fit_exponents([1, 2, 4, 1, 2, 4], [8, 8, 8, 32, 32, 32], [0.1, 0.2, 0.4, 0.2, 0.4, 0.8])
    >>> round(a, 6), round(b, 6)
    (1.0, 0.5)
    >>> fit_exponents([1, 2, 4, 8], [8, 8, 8, 8], [0.1, 0.1, 0.1, 0.1])
    (0.05, 0.0)
    """
    e, bs, d = (np.asarray(v, float) for v in (steps, batches, decreases))
    top = float(np.max(d)) if len(d) else 0.0
    if len(d) < 2 or not np.isfinite(top) or top <= 0:
        return EXPONENT_RANGE[0] if len(d) >= 2 else EXPONENT_RANGE[1], BATCH_EXPONENT_RANGE[0]
    y = np.log(np.maximum(d, 1e-3 * top))
    vary_b = len(np.unique(bs)) > 1
    columns = [np.ones_like(e), np.log(e)] + ([np.log(bs)] if vary_b else [])
    design = np.stack(columns, axis=1)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    coef = np.where(np.abs(coef) <= _standard_errors(design, y, coef), 0.0, coef)
    a = float(np.clip(coef[1], *EXPONENT_RANGE))
    b = float(np.clip(coef[2], *BATCH_EXPONENT_RANGE)) if vary_b else BATCH_EXPONENT_RANGE[0]
    return a, b


def _standard_errors(design: np.ndarray, y: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Ordinary least-squares standard error of each coefficient (0 where the fit has no residual freedom).

    An exponent within one standard error of zero is noise, not a measured effect: taken at face value, a batch
    exponent of 0.01 makes a 4x dearer round look worth a 2 % round reduction wherever latency is free.
    """
    points, params = design.shape
    if points <= params:
        return np.zeros(params)
    sigma2 = float(np.sum((y - design @ coef) ** 2)) / (points - params)
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    return np.sqrt(np.maximum(np.diag(cov), 0.0))


def fedavg_trial(sample: PooledSample, client_data: Sequence[tuple[torch.Tensor, torch.Tensor]], lr: float,
                 steps: Sequence[int], batch: int, satellites: int, seed: int) -> tuple[list[float], list[int]]:
    """Loss decreases on the pooled sample after e local SGD steps of a few satellites, averaged (FedAvg).

    The satellites (those holding data, at most ``satellites``, seeded) draw mini-batches of ``batch`` samples
    (at most the smallest of their sizes) without replacement per step; one trajectory of max(steps) steps is
    read after every e in ``steps``, so every e sees the same mini-batches. Returns (decreases, satellites).
    """
    rng = np.random.default_rng([seed, 11])
    holders = np.flatnonzero([len(y) > 0 for _, y in client_data])
    chosen = np.sort(rng.choice(holders, size=min(satellites, len(holders)), replace=False))
    size = int(min(batch, min(len(client_data[n][1]) for n in chosen)))
    last = max(steps)
    picks = [[rng.choice(len(client_data[n][1]), size, replace=False) for _ in range(last)] for n in chosen]
    xb = torch.stack([torch.stack([client_data[n][0][torch.as_tensor(p)] for p in pk]) for n, pk in zip(chosen, picks)])
    yb = torch.stack([torch.stack([client_data[n][1][torch.as_tensor(p)] for p in pk]) for n, pk in zip(chosen, picks)])
    xb, yb = xb.to(sample.device), yb.to(sample.device)
    weight = torch.as_tensor(sample.rho[chosen] / sample.rho[chosen].sum(), dtype=sample.dtype, device=sample.device)
    step_grad = vmap(grad(sample.batch_loss), in_dims=(0, 0, 0))
    w = sample.w0.detach().repeat(len(chosen), 1)
    with torch.no_grad():
        start = float(sample.pooled_loss(sample.w0))
    decreases = []
    for t in range(1, last + 1):
        w = w - lr * step_grad(w, xb[:, t - 1], yb[:, t - 1]).detach()
        if t in steps:
            with torch.no_grad():
                decreases.append(start - float(sample.pooled_loss(weight @ w)))
    return decreases, chosen.tolist()


def trial_batches(batch_bounds: tuple[int, int], client_data: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[int]:
    """The trial's batch sizes: the smallest allowed and ``BATCH_RATIO`` times it, within the bounds and within the
    median satellite's data (a batch larger than a satellite's data is its whole data)."""
    lo, hi = int(batch_bounds[0]), int(batch_bounds[1])
    sizes = [len(y) for _, y in client_data if len(y) > 0]
    room = int(np.median(sizes)) if sizes else lo
    big = min(BATCH_RATIO * lo, hi, max(room, lo))
    return [lo, big] if big > lo else [lo]


def fit_progress_model(model: nn.Module, client_data: Sequence[tuple[torch.Tensor, torch.Tensor]], lr: float, *,
                       step_bounds: tuple[int, int] = (1, 10), batch_bounds: tuple[int, int] = (8, 64),
                       satellites: int = 8, sample_size: int = 64, seed: int = 0,
                       loss_fn: LossFn = F.cross_entropy) -> ProbeResult:
    """Fit :class:`~optimization.progress_model.ProgressModel` at ``model``'s parameters (which are not changed).

    ``client_data[n] = (x_n, y_n)`` is satellite n's data, ``lr`` the run's local learning rate (1/loss units
    per step), ``step_bounds`` and ``batch_bounds`` the run's knob bounds, ``satellites`` how many satellites the
    trial samples, ``sample_size`` each satellite's share of the pooled sample (at most that many of its samples).
    Deterministic for a seed.
    """
    t0 = time.perf_counter()
    if not lr > 0 or satellites < 1:
        raise CalibrationError(f"the knob probe needs lr > 0 and satellites >= 1; got lr={lr}, satellites={satellites}")
    sample = PooledSample(model, client_data, loss_fn, batch=max(sample_size, 2), seed=seed)
    lo, hi = step_bounds
    steps = [e for e in TRIAL_STEPS if lo <= e <= hi] or [int(lo)]
    batches = trial_batches(batch_bounds, client_data)
    points: list[tuple[int, int, float]] = []
    chosen: list[int] = []
    for batch in batches:
        decreases, chosen = fedavg_trial(sample, client_data, lr, steps, batch, satellites, seed)
        points += [(e, batch, d) for e, d in zip(steps, decreases)]
    a, b = fit_exponents(*zip(*points))
    diagnostics = {"step_exponent": a, "batch_exponent": b, "trial": [list(p) for p in points],
                   "trial_satellites": chosen, "learning_rate": lr, "seconds": time.perf_counter() - t0}
    return ProbeResult(ProgressModel(a, b), diagnostics)
