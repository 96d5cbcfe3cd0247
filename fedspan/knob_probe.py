"""Fit the time-to-accuracy model before round 0 (docs/convergence-bound.md, "Planning for time to accuracy").

Two cheap measurements at the initial model on the satellites' data (shared machinery: per-sample gradients
of :class:`fedspan.calibration.PooledSample`):

* the gradient noise scale ``B_noise = sum_n rho_n sigma_n^2 / |G|^2`` (McCandlish et al.'s B_simple with the
  trace of each satellite's per-sample gradient covariance sigma_n^2, data-weighted, over the squared norm of
  the pooled gradient G);
* the step exponent a: a short FedAvg trial in which a few seeded satellites run e local SGD steps at the run's
  learning rate and a fixed batch, for e in {1, 2, 4, 8} within the step bounds (one trajectory of max e steps,
  read after 1, 2, 4 and 8), their models are averaged and the loss decrease on the pooled sample measured;
  ``decrease ~ c e^a`` is fitted by least squares in log space and a clipped to [0.05, 1].
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
#: Range the fitted step exponent is clipped to.
EXPONENT_RANGE = (0.05, 1.0)


@dataclass(frozen=True)
class ProbeResult:
    """The fitted model and what the probe saw (noise trace, squared gradient, decreases per e, seconds)."""

    model: ProgressModel
    diagnostics: dict = field(default_factory=dict, compare=False)


def gradient_noise_scale(sample: PooledSample) -> tuple[float, float, float]:
    """(B_noise in samples, the data-weighted trace sum rho_n sigma_n^2, |G|^2) at the sample's parameters."""
    gmean, sq = sample.satellite_stats(sample.w0, with_variance=True)
    variance, _ = sample.variances(sq)
    rho = torch.as_tensor(sample.rho, dtype=sample.dtype, device=sample.device)
    g = rho @ gmean
    g_sq = float(g @ g)
    trace = float(sample.rho @ variance)
    return trace / max(g_sq, 1e-30), trace, g_sq


def fit_exponent(steps: Sequence[int], decreases: Sequence[float]) -> float:
    """Least-squares slope of log(decrease) on log(e), clipped to ``EXPONENT_RANGE``.

    Decreases at or below zero are floored at 1e-3 of the largest; none above zero gives the low end.

    >>> round(fit_exponent([1, 2, 4, 8], [0.1, 0.2, 0.4, 0.8]), 6)
    1.0
    >>> fit_exponent([1, 2, 4, 8], [0.1, 0.1, 0.1, 0.1])
    0.05
    """
    e, d = np.asarray(steps, float), np.asarray(decreases, float)
    if len(e) < 2:
        return EXPONENT_RANGE[1]
    top = float(np.max(d))
    if not np.isfinite(top) or top <= 0:
        return EXPONENT_RANGE[0]
    slope = np.polyfit(np.log(e), np.log(np.maximum(d, 1e-3 * top)), 1)[0]
    return float(np.clip(slope, *EXPONENT_RANGE))


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


def fit_progress_model(model: nn.Module, client_data: Sequence[tuple[torch.Tensor, torch.Tensor]], lr: float, *,
                       step_bounds: tuple[int, int] = (1, 10), batch: int = 32, satellites: int = 8,
                       sample_size: int = 64, seed: int = 0, loss_fn: LossFn = F.cross_entropy) -> ProbeResult:
    """Fit :class:`~optimization.progress_model.ProgressModel` at ``model``'s parameters (which are not changed).

    ``client_data[n] = (x_n, y_n)`` is satellite n's data, ``lr`` the run's local learning rate (1/loss units
    per step), ``step_bounds`` the run's local-step bounds, ``batch`` the trial's mini-batch (samples),
    ``satellites`` how many satellites the trial samples, ``sample_size`` each satellite's share of the pooled
    sample (at most that many of its samples). Deterministic for a seed.
    """
    t0 = time.perf_counter()
    if not lr > 0 or batch < 1 or satellites < 1:
        raise CalibrationError(f"the knob probe needs lr > 0, batch >= 1, satellites >= 1; got lr={lr}, "
                               f"batch={batch}, satellites={satellites}")
    sample = PooledSample(model, client_data, loss_fn, batch=max(sample_size, 2), seed=seed)
    b_noise, trace, g_sq = gradient_noise_scale(sample)
    lo, hi = step_bounds
    steps = [e for e in TRIAL_STEPS if lo <= e <= hi] or [int(lo)]
    decreases, chosen = fedavg_trial(sample, client_data, lr, steps, batch, satellites, seed)
    exponent = fit_exponent(steps, decreases)
    diagnostics = {"b_noise": b_noise, "step_exponent": exponent, "noise_trace": trace, "grad_sq": g_sq,
                   "trial_steps": steps, "loss_decreases": decreases, "trial_satellites": chosen,
                   "trial_batch": batch, "learning_rate": lr, "seconds": time.perf_counter() - t0}
    return ProbeResult(ProgressModel(b_noise, exponent), diagnostics)
