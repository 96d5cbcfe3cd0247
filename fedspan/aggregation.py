"""Spanning aggregation over a forest: partial sums leaves -> root, then cluster models and mixing.

A forest is a ``parent`` array (``-1`` for roots). After the upward pass each root holds the weighted
sum over its subtree; the sums are formed directly (``cluster_sums``), and the clock prices the pass
level by level (``forest_levels``). The dispatch back down needs no pass here: every satellite takes
its tree's model row (``models[tree_of]``); the clock prices the dispatch messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedspan.errors import FedSpanError
from optimization.forests import forest_depths


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
    """Depth and root of every node (depths from ``optimization.forests.forest_depths``); ForestError on cycles."""
    parent = np.asarray(parent)
    if parent.ndim != 1 or not np.issubdtype(parent.dtype, np.integer):
        raise ForestError(f"parent must be a 1-D integer array, got shape {parent.shape} dtype {parent.dtype}")
    n = parent.size
    bad = (parent < -1) | (parent >= n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ForestError(f"parent[{i}] = {int(parent[i])} is not -1 or a node index in [0, {n})")
    depths = forest_depths(parent)  # the one depth computation (a BFS); inf where no root is reached
    climbing = ~np.isfinite(depths)
    if climbing.any():
        raise ForestError(f"parent array has a cycle through node {int(np.flatnonzero(climbing)[0])}")
    depth = depths.astype(np.int64)
    height = int(depth.max()) if n else 0
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(height + 2))
    levels = tuple(order[bounds[d]:bounds[d + 1]] for d in range(height + 1))
    root_of = np.arange(n, dtype=np.int64)
    for nodes in levels[1:]:  # top down: a parent's root is known before its children's
        root_of[nodes] = root_of[parent[nodes]]
    return ForestLevels(depth=depth, root_of=root_of, levels=levels)


def reduce_routes(parent: np.ndarray, tree_of: np.ndarray, include: np.ndarray | None = None
                  ) -> tuple[np.ndarray, int]:
    """Where each satellite's contribution lands after the leaves -> root pass, and how many messages it takes.

    Returns ``cluster_of`` (N,): the tree id of the root each node hangs under (several roots may share
    an id: a star has one root per uploading satellite, a repaired tree may have promoted a second root),
    and the number of upward messages between included satellites. Excluded nodes add nothing of their
    own but still relay their children's sums, so a repaired forest decides who is in a tree and
    ``include`` decides who contributes.
    """
    levels = forest_levels(parent)
    p = np.asarray(parent)
    cluster_of = np.asarray(tree_of, dtype=np.int64)[levels.root_of]
    has_parent = p >= 0
    if include is not None:
        include = np.asarray(include, bool)
        has_parent &= include & include[np.where(has_parent, p, 0)]
    return cluster_of, int(np.count_nonzero(has_parent))


def cluster_sums(params: torch.Tensor, weights: np.ndarray, cluster: np.ndarray, num_trees: int,
                 chunk_rows: int = 256) -> tuple[torch.Tensor, np.ndarray]:
    """Per-cluster weighted sums ``(K, P)`` float64 (on ``params``' device) and weight sums ``(K,)`` of the
    rows of ``params``: the reduce of one round, in process and on each rank of the distributed backend.

    What the roots hold after the in-network pass: a parent adds its children's partial sums to its own
    ``w_n * params_n``, so a root ends with the sum over its subtree. Addition is associative, so the sums
    are formed here directly, row by row in float64 (a few (chunk, P) blocks, never an (N, P) float64 copy:
    2 GB at 5236 satellites). Only the float64 rounding order differs from a level-by-level pass.
    """
    m = params.shape[0] if params.ndim == 2 else -1
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    cluster = np.asarray(cluster, dtype=np.int64).reshape(-1)
    if m < 0 or w.shape != (m,) or cluster.shape != (m,):
        raise ForestError(f"params {tuple(params.shape)} must have one row per entry of weights {w.shape} and "
                          f"clusters {cluster.shape}")
    if m and (cluster.min() < 0 or cluster.max() >= num_trees):
        raise ForestError(f"cluster ids must lie in [0, {num_trees}), got {cluster.min()}..{cluster.max()}")
    device = params.device
    out = torch.zeros((num_trees, params.shape[1]), dtype=torch.float64, device=device)
    w_t = torch.as_tensor(w, device=device)
    ids = torch.as_tensor(cluster, device=device)
    for lo in range(0, m, chunk_rows):
        hi = min(m, lo + chunk_rows)
        out.index_add_(0, ids[lo:hi], params[lo:hi].to(torch.float64) * w_t[lo:hi, None])
    wsum = np.zeros(num_trees, dtype=np.float64)
    np.add.at(wsum, cluster, w)
    return out, wsum


def tree_sums(params: torch.Tensor, weights: np.ndarray, parent: np.ndarray, tree_of: np.ndarray,
              num_trees: int, include: np.ndarray | None = None) -> tuple[torch.Tensor, np.ndarray, int]:
    """Per-tree weighted sums ``(K, P)``, scalar sums ``(K,)`` and message count of one leaves -> root pass.

    ``params`` and ``weights`` have one row per satellite; excluded satellites relay but add nothing.
    """
    n = len(parent)
    if params.shape[0] != n or np.shape(weights) != (n,):
        raise ForestError(f"params {tuple(params.shape)} and weights {np.shape(weights)} must have {n} rows")
    cluster_of, messages = reduce_routes(parent, tree_of, include)
    rows = np.arange(n) if include is None else np.flatnonzero(include)
    sums, wsum = cluster_sums(params[torch.as_tensor(rows)], np.asarray(weights, float)[rows], cluster_of[rows],
                              num_trees)
    return sums, wsum, messages


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
