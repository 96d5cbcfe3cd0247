"""Decomposition for large constellations: cut the warm-start forest into connected clusters, solve, stitch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimization.forests import forest_depths
from optimization.problem import ObjectiveWeights, SpanningProblem


def partition_forest(parent: np.ndarray, target: int) -> np.ndarray:
    """Cluster label per node: connected subtrees of about `target` nodes, cut bottom-up level by level."""
    n = len(parent)
    depth = forest_depths(parent).astype(int)
    acc = np.ones(n)
    head = parent < 0
    for level in range(int(depth.max()), 0, -1):
        nodes = np.flatnonzero(depth == level)
        cut = acc[nodes] >= target
        head[nodes[cut]] = True
        keep = nodes[~cut]
        np.add.at(acc, parent[keep], acc[keep])
    owner = np.where(head, np.arange(n), -1)
    for level in range(1, int(depth.max()) + 1):
        nodes = np.flatnonzero((depth == level) & ~head)
        owner[nodes] = owner[parent[nodes]]
    return np.unique(owner, return_inverse=True)[1]


def cluster_problem(problem: SpanningProblem, nodes: np.ndarray, reserved: np.ndarray) -> SpanningProblem:
    """The induced one-tree subproblem on `nodes`, with `reserved` terminals per node kept for stitching edges."""
    n = problem.num_nodes
    local = np.full(n, -1)
    local[nodes] = np.arange(len(nodes))
    inside = (local[problem.edges[:, 0]] >= 0) & (local[problem.edges[:, 1]] >= 0)
    res = problem.resources
    sub_res = replace(
        res,
        **{f: getattr(res, f)[nodes] for f in res.__dataclass_fields__},
    )
    sub_res.terminals = np.maximum(sub_res.terminals - reserved[nodes], 1)
    w = problem.weights
    lc = problem.learning
    per_node = lambda v: v if np.ndim(v) == 0 else np.asarray(v)[nodes]  # noqa: E731
    learning = replace(lc, grad_variance=per_node(lc.grad_variance), drift_per_s=per_node(lc.drift_per_s))
    return SpanningProblem(
        num_nodes=len(nodes),
        edges=local[problem.edges[inside]],
        distance_km=problem.distance_km[inside],
        rate_per_watt=problem.rate_per_watt[inside],
        delay_s=problem.delay_s[inside],
        max_rate_bps=problem.max_rate_bps,
        resources=sub_res,
        model_bits=problem.model_bits,
        learning=learning,
        weights=ObjectiveWeights(w.loss, w.energy, w.latency, None),
        num_trees=1,
        local_steps_bounds=problem.local_steps_bounds,
        batch_bounds=problem.batch_bounds,
        min_idle_s=problem.min_idle_s,
    )
