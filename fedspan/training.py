"""Batched local training of many satellites at once, its randomness, and the per-tree reduce."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fedspan.errors import FedSpanError
from fedspan.models import param_shapes, unflatten

# Counter-based randomness: a hash of (seed, step, position) instead of a stateful generator makes
# each client's mini-batches independent of which other clients share its chunk or rank, and lets
# all clients be sampled in one vectorised call.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
# Keep the (rows x widest client) key matrix of one sampling block around 4M entries.
_MAX_KEYS_PER_BLOCK = 1 << 22


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijection on uint64 with good avalanche (vectorised)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def client_seeds(seed: int, round_index: int, satellites: np.ndarray) -> np.ndarray:
    """The int64 seed of each satellite in a round: a hash of ``(seed, round_index, satellite)``."""
    base = splitmix64(splitmix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) ^ np.uint64(round_index & 0xFFFFFFFFFFFFFFFF))
    sats = np.asarray(satellites, dtype=np.int64).astype(np.uint64)
    return splitmix64(base ^ splitmix64(sats)).view(np.int64)


def minibatch_positions(seeds: np.ndarray, step: int, sizes: np.ndarray, batch: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into each client's own data) of its mini-batch at local step ``step``.

    Returns ``positions (M, Bmax)`` and ``valid (M, Bmax)``: row m draws ``min(batch[m], sizes[m])``
    distinct positions in ``[0, sizes[m])`` (sampling without replacement, as the planner's
    variance model assumes); invalid entries are 0. Row m depends only on ``seeds[m]``, ``step``,
    ``sizes[m]`` and ``batch[m]``.
    """
    seeds = np.asarray(seeds, dtype=np.int64).view(np.uint64)
    sizes = np.asarray(sizes, dtype=np.int64)
    take = np.minimum(np.asarray(batch, dtype=np.int64), sizes)
    m = len(seeds)
    width = int(take.max(initial=0))
    positions = np.zeros((m, width), dtype=np.int64)
    valid = np.arange(width)[None, :] < take[:, None]
    if width == 0:
        return positions, valid
    row_keys = splitmix64(seeds ^ splitmix64(np.uint64(step)))
    widest = int(sizes.max())
    rows_per_block = max(1, _MAX_KEYS_PER_BLOCK // widest)
    for lo in range(0, m, rows_per_block):
        hi = min(m, lo + rows_per_block)
        span = int(sizes[lo:hi].max())
        # Random keys per (client, position); positions past a client's size sort last.
        keys = splitmix64(row_keys[lo:hi, None] + np.arange(span, dtype=np.uint64)[None, :])
        keys[np.arange(span)[None, :] >= sizes[lo:hi, None]] = np.iinfo(np.uint64).max
        order = np.argsort(keys, axis=1, kind="stable")[:, :width]
        positions[lo:hi, : order.shape[1]] = order
    positions[~valid] = 0
    return positions, valid


class TrainingError(FedSpanError):
    """Inconsistent inputs to the batched trainer (shapes, steps, indices out of range)."""


@dataclass
class TrainResult:
    """Per-client models after local training and the loss of each client's last mini-batch."""

    params: torch.Tensor  # (M, P) float32
    last_loss: torch.Tensor  # (M,) float32; NaN for clients that took no step (no data or 0 steps)


def _activation_numel(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Floats of activations one sample produces in a forward pass (sizes the memory chunks)."""
    total = 0

    def count(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return max(total, 1)


# Convolutional models at least this large train one client at a time on CPU (see _loop_is_faster).
PER_CLIENT_MIN_PARAMS = 100_000


def _loop_is_faster(model: nn.Module, device: torch.device) -> bool:
    """Whether per-client forward/backward passes beat one vmapped pass for ``model`` on ``device``.

    Under vmap a conv2d with per-client weights becomes one grouped convolution, whose backward is
    slower on CPU than the clients' plain convolutions one after another. CPU seconds (one thread)
    per round of 66 clients x 5 steps x 32 samples, vmap against per client: cnn-large 9.0 / 6.7 on
    1x28x28 and 20.6 / 12.4 on 3x64x64; resnet 13.0 / 8.4 on 3x64x64. Batching pays for the small
    models (mlp, cnn), where per-call overhead dominates; a model of >= 100k parameters fits only a
    few clients per vmapped chunk of the memory budget anyway. On GPUs grouped convolutions are fast.
    """
    has_conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    size = sum(p.numel() for p in model.parameters())
    return device.type == "cpu" and has_conv and size >= PER_CLIENT_MIN_PARAMS


class BatchedTrainer:
    """Local SGD for many clients at once: one vmapped forward/backward per local step.

    Every client has its own model row in a (M, P) matrix; ``torch.func.functional_call`` under
    ``torch.vmap`` evaluates all rows on their own mini-batches in one call, and the sum of the
    per-client mean losses has the per-client gradients as its gradient (clients share nothing).
    With ``per_client`` (default: large conv models on CPU, see ``_loop_is_faster``) each step
    instead runs the rows' forward/backward passes one after another on the same (M, P) matrix.
    """

    def __init__(self, model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, lr: float,
                 momentum: float = 0.0, weight_decay: float = 0.0, device: torch.device | str | None = None,
                 memory_budget_floats: int = 1 << 27, per_client: bool | None = None) -> None:
        if len(x_train) != len(y_train):
            raise TrainingError(f"x_train has {len(x_train)} samples but y_train {len(y_train)}")
        if lr <= 0 or momentum < 0 or weight_decay < 0:
            raise TrainingError(f"need lr > 0, momentum >= 0, weight_decay >= 0 (got {lr}, {momentum}, {weight_decay})")
        self.device = torch.device(device) if device is not None else x_train.device
        self.model = model.to(self.device)
        self.shapes = param_shapes(model)
        self.num_params = sum(math.prod(s) for _, s in self.shapes)
        self.x_train = x_train.to(self.device)
        self.y_train = y_train.to(self.device, torch.int64)
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.memory_budget_floats = int(memory_budget_floats)
        self._act_per_sample = _activation_numel(self.model, tuple(x_train.shape[1:]))
        self._batched_logits = torch.vmap(self._logits, in_dims=(0, 0))
        self.per_client = _loop_is_faster(self.model, self.device) if per_client is None else bool(per_client)

    def to(self, device: torch.device | str) -> BatchedTrainer:
        """This trainer on ``device`` (itself when already there); data and a model copy move along."""
        device = torch.device(device)
        if device == self.device:
            return self
        return BatchedTrainer(copy.deepcopy(self.model), self.x_train, self.y_train, self.lr, self.momentum,
                              self.weight_decay, device, self.memory_budget_floats, self.per_client)

    def _logits(self, named: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, named, (x,))

    def chunk_size(self, max_batch: int) -> int:
        """Clients per vmapped call so that weights, gradients and activations fit the budget."""
        per_client = 4 * self.num_params + 3 * max(max_batch, 1) * self._act_per_sample
        return max(1, self.memory_budget_floats // per_client)

    def train(self, start_params: torch.Tensor, client_indices: Sequence[np.ndarray], local_steps: np.ndarray,
              batch_size: np.ndarray, seeds: np.ndarray, proximal_mu: float = 0.0) -> TrainResult:
        """Run ``local_steps[m]`` SGD steps of batch ``batch_size[m]`` for every client m (batched).

        ``proximal_mu > 0`` adds FedProx's proximal term ``(mu / 2) ||w - w_start||^2`` to each client's
        local objective, i.e. ``mu (w - w_start)`` to its gradient (Li et al., "Federated Optimization in
        Heterogeneous Networks", MLSys 2020).
        """
        m = len(client_indices)
        local_steps = np.asarray(local_steps, dtype=np.int64).reshape(-1)
        batch_size = np.asarray(batch_size, dtype=np.int64).reshape(-1)
        seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
        self._validate(start_params, m, local_steps, batch_size, seeds)
        if not (math.isfinite(proximal_mu) and proximal_mu >= 0):
            raise TrainingError(f"proximal_mu must be a finite number >= 0, got {proximal_mu}")
        sizes = np.fromiter((len(ix) for ix in client_indices), dtype=np.int64, count=m)
        pool = np.concatenate([np.asarray(ix, dtype=np.int64).reshape(-1) for ix in client_indices]
                              + [np.zeros(0, dtype=np.int64)])
        if pool.size and (pool.min() < 0 or pool.max() >= len(self.y_train)):
            raise TrainingError(f"client index {int(pool.max()) if pool.max() >= 0 else int(pool.min())} outside "
                                f"the training set of {len(self.y_train)} samples")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        # Row-major and our own: the steps update views of its rows in place. A fresh float32 copy from the
        # caller is used as is (a second (M, P) copy costs a second per round at 5000 satellites).
        params = start_params.detach().to(self.device, torch.float32, memory_format=torch.contiguous_format)
        if params.data_ptr() == start_params.data_ptr():
            params = params.clone()
        # The proximal term pulls towards the model each client started from (kept only when used).
        anchor = params.clone() if proximal_mu else None
        last_loss = torch.full((m,), float("nan"), device=self.device)
        chunk = self.chunk_size(int(np.minimum(batch_size, sizes).max(initial=1)))
        for lo in range(0, m, chunk):
            rows = np.arange(lo, min(m, lo + chunk))
            self._train_chunk(params, last_loss, rows, pool, starts, sizes, local_steps, batch_size, seeds,
                              anchor, float(proximal_mu))
        return TrainResult(params.to(start_params.device), last_loss.to(start_params.device))

    def _validate(self, start_params: torch.Tensor, m: int, local_steps: np.ndarray, batch_size: np.ndarray,
                  seeds: np.ndarray) -> None:
        if start_params.ndim != 2 or start_params.shape != (m, self.num_params):
            raise TrainingError(f"start_params must be ({m}, {self.num_params}), got {tuple(start_params.shape)}")
        for name, arr in (("local_steps", local_steps), ("batch_size", batch_size), ("seeds", seeds)):
            if len(arr) != m:
                raise TrainingError(f"{name} has {len(arr)} entries for {m} clients")
        if m and local_steps.min() < 0:
            raise TrainingError(f"local_steps must be >= 0, got {int(local_steps.min())}")
        if m and batch_size.min() < 1:
            raise TrainingError(f"batch_size must be >= 1, got {int(batch_size.min())}")

    def _train_chunk(self, params: torch.Tensor, last_loss: torch.Tensor, rows: np.ndarray, pool: np.ndarray,
                     starts: np.ndarray, sizes: np.ndarray, local_steps: np.ndarray, batch_size: np.ndarray,
                     seeds: np.ndarray, anchor: torch.Tensor | None = None, proximal_mu: float = 0.0) -> None:
        velocity = torch.zeros((len(rows), self.num_params), device=self.device) if self.momentum else None
        first, end = int(rows[0]), int(rows[-1]) + 1  # rows is a contiguous range
        for step in range(int(local_steps[rows].max(initial=0))):
            # Clients past their own e_n (or without data) drop out: they neither move nor cost compute.
            active = (step < local_steps[rows]) & (sizes[rows] > 0)
            if not active.any():
                break
            act = rows[active]
            positions, valid = minibatch_positions(seeds[act], step, sizes[act], batch_size[act])
            index = torch.from_numpy(np.where(valid, pool[np.minimum(starts[act, None] + positions, len(pool) - 1)], 0))
            index = index.to(self.device)
            mask = torch.from_numpy(valid).to(self.device, torch.float32)
            act_t = torch.from_numpy(act).to(self.device)
            # While every client of the chunk steps (the usual case) its rows are updated in place: a
            # (clients, P) gather and scatter per step cost more than the forward/backward of a small model.
            whole = bool(active.all())
            local = None if whole else torch.from_numpy(np.flatnonzero(active)).to(self.device)
            weights = params[first:end] if whole else params[act_t]
            vel = None if velocity is None else (velocity if whole else velocity[local])
            start = None if anchor is None else (anchor[first:end] if whole else anchor[act_t])
            if self.per_client:
                grad, per_client = self._looped_grads(weights, index, valid.sum(1))
                grads, weight_views = [grad], [weights]
                vel_views, start_views = [vel], [start]
            else:
                grads, per_client = self._vmapped_grads(weights, index, mask)
                weight_views = list(unflatten(weights, self.shapes).values())
                vel_views = [None] * len(grads) if vel is None else list(unflatten(vel, self.shapes).values())
                start_views = [None] * len(grads) if start is None else list(unflatten(start, self.shapes).values())
            with torch.no_grad():
                for w, g, v, w0 in zip(weight_views, grads, vel_views, start_views):
                    if w0 is not None:
                        g = g + proximal_mu * (w - w0)
                    if self.weight_decay:
                        g = g + self.weight_decay * w
                    if v is not None:
                        v.mul_(self.momentum).add_(g)
                        g = v
                    w.sub_(self.lr * g)
                if not whole:
                    params[act_t] = weights
                    if velocity is not None:
                        velocity[local] = vel
                last_loss[act_t] = per_client.detach()

    def _leaves(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``flat`` (..., P) as named parameters, each a leaf that autograd differentiates.

        Gradients with respect to the views equal the flat vector's gradient bit for bit, without autograd
        scattering every parameter's gradient into a zeroed (clients, P) tensor (ten passes over P per step
        for ten parameter tensors).
        """
        return {name: view.requires_grad_(True) for name, view in unflatten(flat, self.shapes).items()}

    def _vmapped_grads(self, weights: torch.Tensor, index: torch.Tensor, mask: torch.Tensor
                       ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-client gradients, one (M, *shape) tensor per parameter, and mean losses (M,), from one vmapped
        forward/backward. The gradients stay per parameter: the update applies them to views of the (M, P)
        rows, so no (M, P) gradient is ever assembled."""
        leaves = self._leaves(weights)
        logits = self._batched_logits(leaves, self.x_train[index])
        losses = F.cross_entropy(logits.flatten(0, 1), self.y_train[index].flatten(), reduction="none")
        per_client = (losses.view(mask.shape) * mask).sum(1) / mask.sum(1)
        return list(torch.autograd.grad(per_client.sum(), list(leaves.values()))), per_client.detach()

    def _looped_grads(self, weights: torch.Tensor, index: torch.Tensor, take: np.ndarray
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """The same as ``_vmapped_grads``, one client at a time (conv models on CPU: see ``per_client``)."""
        grad = torch.empty_like(weights)
        per_client = torch.empty(len(weights), device=weights.device)
        for row in range(len(weights)):
            leaves = self._leaves(weights[row])
            rows = index[row, :int(take[row])]
            loss = F.cross_entropy(functional_call(self.model, leaves, (self.x_train[rows],)), self.y_train[rows])
            grad[row] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(leaves.values()))])
            per_client[row] = loss.detach()
        return grad, per_client

    def evaluate(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, batch: int = 8192
                 ) -> tuple[float, float]:
        """Mean cross-entropy and accuracy of one flat model (P,) on ``(x, y)``."""
        return evaluate(self.model, params, x, y, batch)


def evaluate(model: nn.Module, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, batch: int = 8192
             ) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` with the flat parameters ``params`` (P,)."""
    if len(x) != len(y) or len(x) == 0:
        raise TrainingError(f"evaluation needs matching non-empty x/y, got {len(x)} and {len(y)}")
    device = next(model.parameters()).device
    named = unflatten(params.detach().to(device, torch.float32), param_shapes(model))
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            xb, yb = x[lo:lo + batch].to(device), y[lo:lo + batch].to(device)
            logits = functional_call(model, named, (xb,))
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / len(x), correct / len(x)


def mean_train_loss(last_loss: torch.Tensor | np.ndarray, weights: np.ndarray) -> float:
    """Sample-weighted mean of the clients' last losses, ignoring clients that did not train."""
    loss = np.asarray(torch.as_tensor(last_loss).detach().cpu(), dtype=np.float64)
    w = np.where(np.isnan(loss), 0.0, np.asarray(weights, dtype=np.float64))
    total = w.sum()
    return float((np.nan_to_num(loss) * w).sum() / total) if total > 0 else float("nan")
