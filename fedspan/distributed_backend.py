"""``torch.distributed`` backend: satellites sharded across ranks, per-tree sums all-reduced.

Launch with ``torchrun -m fedspan.distributed`` (the entry point, in ``fedspan.distributed``; env:// rendezvous, so ``--nnodes``/``--rdzv-endpoint`` work unchanged).
Each rank trains a contiguous block of satellites with the batched trainer and all-reduces one
float64 vector holding its per-tree sums, so every rank ends the round with the same models
(a strategy with ``needs_client_updates`` also gets every rank's trained models, gathered).
The round's latency and energy stay those of the modelled constellation (the clock prices the
forest), not of the cluster's network. Without an initialised process group the backend runs
as a single process, which is also the reference the multi-rank result is tested against.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from fedspan.aggregation import cluster_sums
from fedspan.backend import ClientUpdates, RoundUpdate, RoundWork
from fedspan.errors import FedSpanError
from fedspan.training import BatchedTrainer, client_seeds


class DistributedError(FedSpanError):
    """A RoundWork whose arrays disagree in length, or a process group that cannot start."""


def init_process_group_from_env() -> torch.device:
    """Join the process group torchrun describes (NCCL when CUDA is visible, else gloo).

    Returns the device this rank should train on (``cuda:LOCAL_RANK`` with NCCL, else CPU).
    """
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise DistributedError(f"environment lacks {', '.join(missing)}: launch with torchrun")
    use_cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", init_method="env://")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def shard_bounds(num_items: int, world_size: int, rank: int) -> tuple[int, int]:
    """The contiguous block ``[lo, hi)`` of ``num_items`` that ``rank`` owns (sizes differ by <= 1)."""
    return (num_items * rank) // world_size, (num_items * (rank + 1)) // world_size


def upward_messages(parent: np.ndarray, include: np.ndarray) -> int:
    """Models sent upward: one per tree edge whose child and parent are both included."""
    parent = np.asarray(parent)
    has_parent = parent >= 0
    return int(np.count_nonzero(has_parent & include & include[np.where(has_parent, parent, 0)]))


def _check_work(work: RoundWork) -> int:
    n = len(work.tree_of)
    for name in ("parent", "include", "local_steps", "batch_size", "sample_weight", "client_indices"):
        if len(getattr(work, name)) != n:
            raise DistributedError(f"RoundWork.{name} has {len(getattr(work, name))} entries for {n} satellites")
    if work.start_params.ndim != 2:
        raise DistributedError(f"RoundWork.start_params must be (K, P), got {tuple(work.start_params.shape)}")
    return n


class TorchDistributedBackend:
    """A ``TrainingBackend`` that trains this rank's block of satellites and all-reduces the sums."""

    def __init__(self, trainer: BatchedTrainer, group: dist.ProcessGroup | None = None,
                 device: torch.device | str | None = None) -> None:
        self.group = group
        # NCCL reduces CUDA tensors only, so under NCCL each rank trains on its own GPU.
        if device is None and dist.is_initialized() and dist.get_backend(group) == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        self.trainer = trainer.to(device) if device is not None else trainer

    @property
    def world_size(self) -> int:
        """Number of ranks (1 without a process group)."""
        return dist.get_world_size(self.group) if dist.is_initialized() else 1

    @property
    def rank(self) -> int:
        """This process's rank (0 without a process group)."""
        return dist.get_rank(self.group) if dist.is_initialized() else 0

    def run_round(self, work: RoundWork) -> RoundUpdate:
        """Train this rank's included satellites, reduce per tree locally, all-reduce (SUM, float64)."""
        n = _check_work(work)
        num_trees, num_params = work.start_params.shape
        include = np.asarray(work.include, dtype=bool)
        tree_of = np.asarray(work.tree_of, dtype=np.int64)
        lo, hi = shard_bounds(n, self.world_size, self.rank)
        mine = lo + np.flatnonzero(include[lo:hi])
        weights = np.asarray(work.sample_weight, dtype=np.float64)[mine]
        result = self.trainer.train(
            work.start_params.to(torch.float32)[torch.from_numpy(tree_of[mine])],
            [work.client_indices[i] for i in mine],
            np.asarray(work.local_steps)[mine],
            np.asarray(work.batch_size)[mine],
            client_seeds(work.seed, work.round_index, mine),
            proximal_mu=work.proximal_mu,
        )
        sums, weight_sums = cluster_sums(result.params, weights, tree_of[mine], num_trees)
        loss = result.last_loss.detach().cpu().to(torch.float64).numpy()
        trained = ~np.isnan(loss)
        loss_terms = [float((loss[trained] * weights[trained]).sum()), float(weights[trained].sum())]
        # One flat float64 vector: a single collective per round, exact enough that sums of
        # float32 models do not depend on how satellites are split across ranks.
        packed = torch.cat([
            sums.reshape(-1).to(self.trainer.device),
            torch.tensor(np.concatenate([weight_sums, loss_terms]), dtype=torch.float64, device=self.trainer.device),
        ])
        if self.world_size > 1:
            dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=self.group)
        packed = packed.cpu()
        tree_sums = packed[: num_trees * num_params].reshape(num_trees, num_params)
        tail = packed[num_trees * num_params:].numpy()
        loss_sum, loss_weight = tail[num_trees], tail[num_trees + 1]
        return RoundUpdate(
            tree_sums=tree_sums,
            weight_sums=tail[:num_trees].copy(),
            train_loss=float(loss_sum / loss_weight) if loss_weight > 0 else float("nan"),
            messages=upward_messages(work.parent, include),
            client_updates=self._gather_clients(work, mine, result.params, loss) if work.keep_client_updates else None,
        )

    def _gather_clients(self, work: RoundWork, mine: np.ndarray, params: torch.Tensor,
                        loss: np.ndarray) -> ClientUpdates:
        """Every rank's trained models on every rank (shards are contiguous, so rank order is id order)."""
        if self.world_size == 1:
            return ClientUpdates.of(work, mine, params, loss)
        shards: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * self.world_size
        dist.all_gather_object(shards, (mine, params.detach().cpu().numpy(), loss), group=self.group)
        ids, rows, losses = (np.concatenate(part) for part in zip(*shards))
        return ClientUpdates.of(work, ids, torch.from_numpy(rows), losses)
