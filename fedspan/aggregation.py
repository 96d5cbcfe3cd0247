"""Spanning aggregation over a forest: partial sums leaves -> root, then cluster models and mixing.

A forest is a ``parent`` array (``-1`` for roots). The upward pass is vectorized per depth level:
all nodes of one depth send at once (one ``index_add_``), so the Python loop runs over the tree
height, never over satellites. The dispatch back down needs no pass here: every satellite takes
its tree's model row (``models[tree_of]``); the clock prices the dispatch messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedspan.errors import FedSpanError


class ForestError(FedSpanError):
    """A ``parent`` array that is not a forest (cycle, index out of range, wrong shape)."""


@dataclass(frozen=True)
class ForestLevels:
    """Depth structure of a forest: ``depth[n]``, ``root_of[n]`` and the nodes of each level."""

    depth: np.ndarray  # (N,) int, 0 for roots
    root_of: np.ndarray  # (N,) int
    levels: tuple[np.ndarray, ...]  # levels[d] = nodes at depth d

    @property
    def height(self) -> int:
        """Number of levels below the roots."""
        return len(self.levels) - 1


def forest_levels(parent: np.ndarray) -> ForestLevels:
    """Depth and root of every node by pointer jumping; raises ForestError on cycles."""
    parent = np.asarray(parent)
    if parent.ndim != 1 or not np.issubdtype(parent.dtype, np.integer):
        raise ForestError(f"parent must be a 1-D integer array, got shape {parent.shape} dtype {parent.dtype}")
    n = parent.size
    bad = (parent < -1) | (parent >= n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ForestError(f"parent[{i}] = {int(parent[i])} is not -1 or a node index in [0, {n})")
    depth = np.zeros(n, dtype=np.int64)
    ancestor = parent.astype(np.int64)
    root_of = np.arange(n, dtype=np.int64)
    # Each step moves every still-climbing node one level up; a forest needs < n steps.
    for _ in range(n + 1):
        climbing = ancestor >= 0
        if not climbing.any():
            break
        depth[climbing] += 1
        root_of[climbing] = ancestor[climbing]
        ancestor = np.where(climbing, parent[np.maximum(ancestor, 0)], -1)
    else:
        cyc = int(np.flatnonzero(ancestor >= 0)[0])
        raise ForestError(f"parent array has a cycle through node {cyc}")
    height = int(depth.max()) if n else 0
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(height + 2))
    levels = tuple(order[bounds[d]:bounds[d + 1]] for d in range(height + 1))
    return ForestLevels(depth=depth, root_of=root_of, levels=levels)


@dataclass
class ReduceResult:
    """What reached the roots: per-root weighted sums and the number of upward messages."""

    node_sums: torch.Tensor  # (N, P) float64: partial sum each node holds after the pass
    node_weights: np.ndarray  # (N,) float64: scalar partial sum sum |D_i| of the same subtree
    messages: int  # models sent upward between included satellites


def spanning_reduce(params: torch.Tensor, weights: np.ndarray, parent: np.ndarray,
                    include: np.ndarray | None = None,
                    levels: ForestLevels | None = None) -> ReduceResult:
    """Leaves -> root partial sums: each node adds its children's sums to ``w_n * params_n``.

    Excluded nodes add nothing of their own but still relay their children's sums, so a
    repaired forest decides who is in a tree and ``include`` decides who contributes.
    """
    levels = levels or forest_levels(parent)
    n = len(parent)
    if params.shape[0] != n or np.shape(weights) != (n,):
        raise ForestError(f"params {tuple(params.shape)} and weights {np.shape(weights)} must have {n} rows")
    w = np.asarray(weights, dtype=np.float64)
    if include is not None:
        w = np.where(include, w, 0.0)
    w_t = torch.as_tensor(w, dtype=torch.float64)
    sums = params.to(torch.float64) * w_t[:, None]
    scalar = torch.as_tensor(w.copy())
    parent_t = torch.as_tensor(np.asarray(parent, dtype=np.int64))
    for d in range(levels.height, 0, -1):
        nodes = torch.as_tensor(levels.levels[d])
        targets = parent_t[nodes]
        # One message per child; the parent waits for all of them (the clock times the wait).
        sums.index_add_(0, targets, sums[nodes])
        scalar.index_add_(0, targets, scalar[nodes])
    p = np.asarray(parent)
    has_parent = p >= 0
    if include is not None:
        has_parent &= include & include[np.where(has_parent, p, 0)]
    messages = int(np.count_nonzero(has_parent))
    return ReduceResult(node_sums=sums, node_weights=scalar.numpy(), messages=messages)


def tree_sums(params: torch.Tensor, weights: np.ndarray, parent: np.ndarray, tree_of: np.ndarray,
              num_trees: int, include: np.ndarray | None = None) -> tuple[torch.Tensor, np.ndarray, int]:
    """Per-tree weighted sums ``(K, P)``, scalar sums ``(K,)`` and message count of one reduce.

    Several roots may share a tree id (a star has one root per uploading satellite, a repaired
    tree may have promoted a second root); their sums land in the same cluster.
    """
    levels = forest_levels(parent)
    red = spanning_reduce(params, weights, parent, include, levels)
    roots = np.flatnonzero(np.asarray(parent) < 0)
    ids = torch.as_tensor(np.asarray(tree_of, dtype=np.int64)[roots])
    out = torch.zeros((num_trees, params.shape[1]), dtype=torch.float64)
    out.index_add_(0, ids, red.node_sums[torch.as_tensor(roots)])
    wsum = np.zeros(num_trees, dtype=np.float64)
    np.add.at(wsum, np.asarray(tree_of)[roots], red.node_weights[roots])
    return out, wsum, red.messages


def cluster_models(tree_sum: torch.Tensor, weight_sum: np.ndarray, previous: torch.Tensor) -> torch.Tensor:
    """New model of each cluster: ``sum / weight``; a cluster with no data keeps its old model."""
    w = torch.as_tensor(weight_sum, dtype=torch.float64)
    has = w > 0
    new = previous.to(torch.float64).clone()
    new[has] = tree_sum[has] / w[has, None]
    return new.to(previous.dtype)


def mix_clusters(models: torch.Tensor, weights: np.ndarray) -> torch.Tensor:
    """Root-to-root mixing: every cluster takes the data-weighted average of all clusters."""
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
    if float(w.sum()) <= 0:
        return models.clone()
    mixed = (models.to(torch.float64) * w[:, None]).sum(0) / w.sum()
    return mixed.to(models.dtype).expand_as(models).clone()


def should_mix(round_index: int, mix_every: int) -> bool:
    """Clusters mix after rounds ``mix_every - 1, 2 mix_every - 1, ...`` (never if mix_every <= 0)."""
    return mix_every > 0 and (round_index + 1) % mix_every == 0
