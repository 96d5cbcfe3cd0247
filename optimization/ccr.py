"""The CCRs of a spanning forest with K roots, checked exactly on integral points (x over arcs, r over nodes).

one parent per non-root: sum_m x_nm + r_n = 1;  sum r = K;  sum x = N - K;  degree sum_m (x_nm + x_mn) <= M_n;
no cycles: depth labels d in [1, N] with d_n >= x_nm (d_m + 1) (MTZ, O(arcs)); binariness: sum x = sum x^2.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from optimization.formulation import Arcs
from optimization.problem import SpanningProblem


def linear_ccr_mask(problem: SpanningProblem, num_trees: int, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """For a batch of points (rows of x (M, A) and r (M, N)): all CCRs except the depth labels hold."""
    n = problem.num_nodes
    arcs = Arcs.all_of(problem)
    x, r = np.atleast_2d(x).astype(float), np.atleast_2d(r).astype(float)
    out_sum = np.zeros((len(x), n))
    np.add.at(out_sum.T, arcs.tail, x.T)
    incident = out_sum.copy()
    np.add.at(incident.T, arcs.head, x.T)
    binary = np.isclose((x - x**2).sum(1), 0) & np.isclose((r - r**2).sum(1), 0)
    return (
        binary
        & np.isclose(out_sum + r, 1).all(1)
        & np.isclose(r.sum(1), num_trees)
        & np.isclose(x.sum(1), n - num_trees)
        & (incident <= problem.resources.terminals + 1e-9).all(1)
    )


def has_depth_labels(problem: SpanningProblem, x: np.ndarray) -> bool:
    """Whether labels d in [1, N] with d_tail >= x (d_head + 1) exist (an LP feasibility problem)."""
    n = problem.num_nodes
    arcs = Arcs.all_of(problem)
    used = np.flatnonzero(np.asarray(x) > 0.5)
    if len(used) == 0:
        return True
    rows = np.zeros((len(used), n))
    rows[np.arange(len(used)), arcs.head[used]] += 1.0
    rows[np.arange(len(used)), arcs.tail[used]] -= 1.0
    lp = linprog(np.zeros(n), A_ub=rows, b_ub=-np.ones(len(used)), bounds=[(1, n)] * n, method="highs")
    return lp.status == 0


def satisfies_ccr(problem: SpanningProblem, num_trees: int, x: np.ndarray, r: np.ndarray) -> bool:
    """All CCRs at one integral point."""
    return bool(linear_ccr_mask(problem, num_trees, x, r)[0]) and has_depth_labels(problem, x)


def parent_from_point(problem: SpanningProblem, x: np.ndarray) -> np.ndarray:
    """Parent array encoded by an integral x (-1 where a node sends on no arc)."""
    arcs = Arcs.all_of(problem)
    parent = np.full(problem.num_nodes, -1)
    used = np.asarray(x) > 0.5
    parent[arcs.tail[used]] = arcs.head[used]
    return parent
