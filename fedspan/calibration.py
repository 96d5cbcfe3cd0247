"""Calibrate the convergence bound's constants from the model and the satellites' data.

A cheap probe before round 0 (docs/convergence-bound.md, "Calibration"): per-sample gradients
(``torch.func.vmap`` of ``grad``) at a few parameter points give every satellite's full gradient
and its gradient variance; Hessian-vector products (forward-over-reverse) give the smoothness by
power iteration; the satellites' and the global gradients at the probed points give a fit of the
bounded-dissimilarity assumption.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from fedspan.errors import FedSpanError
from fedspan.models import param_shapes, unflatten
from optimization.problem import LearningConstants

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Floor for constants the planner requires to be strictly positive.
_TINY = 1e-12


class CalibrationError(FedSpanError):
    """Calibration inputs that cannot give constants (no data, mismatched shapes, bad settings)."""


@dataclass(frozen=True)
class CalibratedConstants:
    """Measured constants of the convergence bound, plus what the probe saw.

    ``grad_variance`` is per satellite (sigma_n^2 of one sample's gradient; a mini-batch of B
    drawn without replacement from D samples has variance (1 - B/D) sigma_n^2 / B).
    """

    smoothness: float
    grad_variance: np.ndarray
    dissimilarity_scale: float
    dissimilarity: float
    initial_gap: float
    #: Diagnostics: pooled loss at the start, power-iteration history, the (||g||^2,
    #: sum rho_n ||g_n||^2) pairs of the dissimilarity fit, samples used, seconds taken.
    diagnostics: dict = field(default_factory=dict, compare=False, repr=False)


def _flat_params(model: nn.Module) -> tuple[torch.Tensor, list[tuple[str, torch.Size]]]:
    """The parameters as one vector in their own dtype (a float64 test problem stays float64), and their shapes."""
    named = [(n, p) for n, p in model.named_parameters()]
    if not named:
        raise CalibrationError("the model has no parameters to calibrate")
    return torch.cat([p.detach().reshape(-1) for _, p in named]), param_shapes(model)


class PooledSample:
    """A seeded subsample of every satellite's data, pooled, with per-sample gradients by ``vmap(grad(...))``.

    Satellite n contributes at most ``batch`` of its samples; sample i of satellite n weighs ``rho_n / used_n``
    in the pooled loss, so ``pooled_loss(w)`` estimates F = sum_n rho_n F_n (rho_n: data shares). Shared by the
    bound's calibration (:func:`estimate_constants`) and the time-to-accuracy probe (``fedspan.knob_probe``).
    """

    def __init__(self, model: nn.Module, client_data: Sequence[tuple[torch.Tensor, torch.Tensor]],
                 loss_fn: LossFn = F.cross_entropy, *, batch: int = 256, chunk: int = 2048, seed: int = 0) -> None:
        if not client_data:
            raise CalibrationError("client_data is empty: no satellites to calibrate")
        if batch < 2 or chunk < 1:
            raise CalibrationError(f"need batch >= 2, chunk >= 1; got batch={batch}, chunk={chunk}")
        self.w0, shapes = _flat_params(model)
        self.device, self.dtype = self.w0.device, self.w0.dtype
        buffers = {n: b.detach() for n, b in model.named_buffers()}
        gen = np.random.default_rng(seed)
        sizes = np.array([len(y) for _, y in client_data], dtype=float)
        if sizes.sum() <= 0:
            raise CalibrationError("every satellite has zero samples")
        self.rho = sizes / sizes.sum()
        xs, ys, owner = [], [], []
        for n, (x, y) in enumerate(client_data):
            if len(x) != len(y):
                raise CalibrationError(f"satellite {n}: {len(x)} inputs but {len(y)} labels")
            if len(y) == 0:
                continue
            idx = np.arange(len(y)) if len(y) <= batch else np.sort(gen.choice(len(y), batch, replace=False))
            sel = torch.from_numpy(idx)
            xs.append(x[sel].to(self.device))
            ys.append(y[sel].to(self.device))
            owner.append(np.full(len(idx), n))
        self.X, self.Y = torch.cat(xs), torch.cat(ys)
        own_np = np.concatenate(owner)
        self.own = torch.from_numpy(own_np).to(self.device)
        self.num, self.chunk = len(client_data), chunk
        self.used = np.bincount(own_np, minlength=self.num).astype(float)
        self.sample_w = torch.as_tensor(self.rho[own_np] / self.used[own_np], dtype=self.dtype, device=self.device)

        self.model, self.shapes, self.buffers, self.loss_fn = model, shapes, buffers, loss_fn

        def one_loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.batch_loss(w, x.unsqueeze(0), y.unsqueeze(0))

        self.per_sample_grad = vmap(grad(one_loss), in_dims=(None, 0, 0))
        self.per_sample_loss = vmap(one_loss, in_dims=(None, 0, 0))

    def batch_loss(self, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The model's loss at the flat parameters ``w`` on a batch (x, y) (differentiable)."""
        out = functional_call(self.model, (unflatten(w, self.shapes), self.buffers), (x,))
        return self.loss_fn(out, y)

    def pooled_loss(self, w: torch.Tensor) -> torch.Tensor:
        """The weighted pooled loss at the flat parameters ``w`` (differentiable)."""
        total = w.new_zeros(())
        for s in range(0, len(self.Y), self.chunk):
            part = slice(s, s + self.chunk)
            total = total + (self.per_sample_loss(w, self.X[part], self.Y[part]) * self.sample_w[part]).sum()
        return total

    def satellite_stats(self, w: torch.Tensor, with_variance: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Each satellite's mean gradient g_n (num, P), and sum_i ||g_i - g_n||^2 (num,) if asked (else 0)."""
        gsum = torch.zeros(self.num, w.numel(), dtype=self.dtype, device=self.device)
        sq = torch.zeros(self.num, dtype=self.dtype, device=self.device)
        grads = []
        for s in range(0, len(self.Y), self.chunk):
            g = self.per_sample_grad(w, self.X[s:s + self.chunk], self.Y[s:s + self.chunk]).detach()
            gsum.index_add_(0, self.own[s:s + self.chunk], g)
            if with_variance:
                grads.append(g)
        cnt = torch.as_tensor(np.maximum(self.used, 1.0), dtype=self.dtype, device=self.device)
        gmean = gsum / cnt[:, None]
        for s, g in zip(range(0, len(self.Y), self.chunk), grads):
            o = self.own[s:s + self.chunk]
            sq.index_add_(0, o, ((g - gmean[o]) ** 2).sum(dim=1))
        return gmean, sq

    def variances(self, sq: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """sigma_n^2 (the sample variance over used_n - 1 of one sample's gradient) per satellite, and which
        satellites had >= 2 samples; the others get the size-weighted mean of those that had."""
        used = self.used
        var = np.full(self.num, np.nan)
        ok = used >= 2
        var[ok] = sq.cpu().numpy()[ok] / (used[ok] - 1.0)  # unbiased: sample variance over D_n - 1
        fallback = float(np.average(var[ok], weights=used[ok])) if ok.any() else _TINY
        return np.maximum(np.where(ok, var, fallback), _TINY), ok


def _smoothness(sample: PooledSample, probes: int, seed: int) -> tuple[float, list[float]]:
    """Smoothness beta by power iteration on the pooled Hessian (Hessian-vector products, forward over reverse):
    the largest ||Hv|| over ``probes`` steps from a seeded random v, and the history of ||Hv||."""
    w0, dtype, device = sample.w0, sample.dtype, sample.device
    grad_pooled = grad(sample.pooled_loss)
    torch_gen = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(w0.numel(), generator=torch_gen, dtype=dtype).to(device)
    v = v / v.norm()
    history = []
    beta = 0.0
    for _ in range(probes):
        hv = jvp(grad_pooled, (w0,), (v,))[1].detach()
        norm = float(hv.norm())
        history.append(norm)
        beta = max(beta, norm)
        if norm == 0.0 or not np.isfinite(norm):
            break
        v = hv / norm
    if not np.isfinite(beta):
        raise CalibrationError(f"the Hessian power iteration diverged (||Hv|| = {beta})")
    return max(beta, _TINY), history


def _dissimilarity(sample: PooledSample, gmean: torch.Tensor, beta: float, points: int
                   ) -> tuple[float, float, float, tuple[list[float], list[float], list[float]]]:
    """Fit sum rho_n ||g_n||^2 <= zeta1 ||g||^2 + zeta2 at ``points`` parameter points (the model's, then full
    gradient steps of 1/beta on the pooled loss): the fitted slope, zeta1 >= 1, zeta2 >= 0 and the points
    (||g||^2, sum rho_n ||g_n||^2, pooled loss)."""
    rho_t = torch.as_tensor(sample.rho, dtype=sample.dtype, device=sample.device)
    G, L, losses = [], [], []
    w = sample.w0.clone()
    for j in range(points):
        if j > 0:
            gmean, _ = sample.satellite_stats(w, with_variance=False)
        g = rho_t @ gmean
        G.append(float(g @ g))
        L.append(float(rho_t @ (gmean ** 2).sum(dim=1)))
        losses.append(float(sample.pooled_loss(w).detach()))
        w = w - g / beta
    G_arr, L_arr = np.array(G), np.array(L)
    if len(G_arr) >= 2 and np.ptp(G_arr) > 1e-12 * max(G_arr.max(), 1.0):
        slope, _ = np.polyfit(G_arr, L_arr, 1)
    else:
        slope = 1.0
    zeta1 = float(max(1.0, slope)) if np.isfinite(slope) else 1.0
    zeta2 = float(max(0.0, np.max(L_arr - zeta1 * G_arr)))
    return slope, zeta1, zeta2, (G, L, losses)


def estimate_constants(
    model: nn.Module,
    client_data: Sequence[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: LossFn = F.cross_entropy,
    *,
    batch: int = 256,
    probes: int = 20,
    points: int = 4,
    loss_lower_bound: float = 0.0,
    chunk: int = 2048,
    seed: int = 0,
) -> CalibratedConstants:
    """Estimate smoothness, per-satellite gradient variance, dissimilarity and initial gap.

    ``client_data[n] = (x_n, y_n)`` is satellite n's data; ``loss_fn(model(x), y)`` must be a
    mean over the batch (cross entropy by default). Every satellite uses at most ``batch`` of
    its samples (a seeded random subset; all of them when it has fewer). ``probes`` is the
    number of power-iteration steps for the smoothness, ``points`` the number of parameter
    points (the model's, then full-gradient steps of size 1/beta on the pooled loss) for the
    dissimilarity fit. ``loss_lower_bound`` is F* (0 for cross entropy). The model is not changed.
    """
    t0 = time.perf_counter()
    if probes < 1 or points < 1:
        raise CalibrationError(f"need probes >= 1, points >= 1; got probes={probes}, points={points}")
    sample = PooledSample(model, client_data, loss_fn, batch=batch, chunk=chunk, seed=seed)
    used = sample.used
    gmean, sq = sample.satellite_stats(sample.w0, with_variance=True)  # gradient variance at the start
    var, ok = sample.variances(sq)

    beta, history = _smoothness(sample, probes, seed)
    slope, zeta1, zeta2, (G, L, losses) = _dissimilarity(sample, gmean, beta, points)

    gap = max(losses[0] - float(loss_lower_bound), _TINY)
    diagnostics = {
        "pooled_loss": losses[0],
        "loss_lower_bound": float(loss_lower_bound),
        "power_iteration": history,
        "dissimilarity_points": {"global_sq": G, "weighted_local_sq": L, "pooled_loss": losses},
        "dissimilarity_slope": float(slope),
        "samples_used": used.astype(int).tolist(),
        "satellites_without_variance": int((~ok).sum()),
        "seconds": time.perf_counter() - t0,
    }
    return CalibratedConstants(smoothness=float(beta), grad_variance=var, dissimilarity_scale=zeta1,
                               dissimilarity=zeta2, initial_gap=float(gap), diagnostics=diagnostics)


def to_learning_constants(calibrated: CalibratedConstants, base: LearningConstants) -> LearningConstants:
    """``base`` with the measured smoothness, variance, dissimilarity and initial gap."""
    return dataclasses.replace(
        base,
        smoothness=float(calibrated.smoothness),
        grad_variance=np.asarray(calibrated.grad_variance, dtype=float).copy(),
        dissimilarity_scale=float(calibrated.dissimilarity_scale),
        dissimilarity=float(calibrated.dissimilarity),
        initial_gap=float(calibrated.initial_gap),
    )


class LossProbe:
    """A fixed, seeded sample of the pooled training data on which every round's loss and gradient are measured.

    The same samples before and after a round make the observed loss decrease exact for them (no sampling
    noise between the two readings), so it can be set against the bound's prediction
    (:func:`optimization.bound.predicted_decrease`) round by round.

    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> probe = LossProbe(model, torch.randn(50, 3), torch.randint(0, 2, (50,)), size=20)
    >>> loss, grad_sq = probe.loss_and_grad_sq(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    >>> loss > 0 and grad_sq > 0
    True
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, size: int = 1024, seed: int = 0,
                 loss_fn: LossFn = F.cross_entropy) -> None:
        if len(x) == 0:
            raise CalibrationError("the loss probe needs at least one training sample")
        pick = np.random.default_rng([seed, 7]).permutation(len(x))[:size]
        index = torch.as_tensor(np.sort(pick), dtype=torch.long)
        self.model, self.x, self.y, self.loss_fn = model, x[index], y[index], loss_fn
        _, self.shapes = _flat_params(model)

    def _loss(self, flat: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(functional_call(self.model, unflatten(flat, self.shapes), (self.x,)), self.y)

    def loss(self, flat: torch.Tensor) -> float:
        """Mean loss of the flat parameters on the probe's samples."""
        with torch.no_grad():
            return float(self._loss(flat.detach().to(torch.float32)))

    def loss_and_grad_sq(self, flat: torch.Tensor) -> tuple[float, float]:
        """Mean loss and the squared norm of its full gradient on the probe's samples."""
        w = flat.detach().to(torch.float32).clone().requires_grad_(True)
        loss = self._loss(w)
        (g,) = torch.autograd.grad(loss, w)
        return float(loss.detach()), float((g.double() ** 2).sum())
