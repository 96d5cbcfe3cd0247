"""Test-side references for the optimizer's program: building a fixed forest's arcs and reading
0/1 points back. Production never builds these (the planner's arcs come from ``Arcs.nearest``/``all_of``
and its forests from rounding), so they live with the tests that use them."""

from __future__ import annotations

import numpy as np

from optimization.formulation import Arcs, SignomialProgram


def arcs_of_forest(parent: np.ndarray, uplink: np.ndarray) -> Arcs:
    """The child -> parent arcs of a forest (``uplink``: each child's candidate-edge index)."""
    kids = np.flatnonzero(parent >= 0)
    return Arcs(kids, parent[kids], uplink[kids])


def decode_roots(program: SignomialProgram, z: np.ndarray) -> np.ndarray | None:
    """Root indicators r at z (None when fixed); r = 1 marks a root, r = eps a non-root."""
    return None if program.fixed else np.exp(z[program.layout.slices["r"]])


def parent_from_point(num_nodes: int, tail: np.ndarray, head: np.ndarray, x_used: np.ndarray) -> np.ndarray:
    """Parent array of a 0/1 arc pattern (-1 where a node sends on no arc)."""
    parent = np.full(num_nodes, -1)
    used = np.asarray(x_used) > 0.5
    parent[np.asarray(tail)[used]] = np.asarray(head)[used]
    return parent


def integral_points(ccr, x_used: np.ndarray, r_used: np.ndarray) -> np.ndarray:
    """Log-points of a ``TopologyCCR`` for 0/1 patterns (rows of x_used (M, A), r_used (M, N)) with o and
    labels at their best. Blocks other than the topology ones are 0 (no CCR row reads them)."""
    x_used, r_used = np.atleast_2d(x_used).astype(bool), np.atleast_2d(r_used).astype(bool)
    L, le = ccr.layout, np.log(ccr.eps)
    zs = np.zeros((len(x_used), L.size))
    zx = np.where(x_used, 0.0, le)
    zs[:, L.slices["x"]] = zx
    zs[:, L.slices["r"]] = np.where(r_used, 0.0, le)
    out = np.zeros((len(x_used), ccr.num_nodes))
    np.add.at(out.T, ccr.tail, np.exp(zx).T)
    lo = ccr.lower[L.slices["o"]]
    zs[:, L.slices["o"]] = np.maximum(np.log(np.maximum(out, 1e-300)), lo)
    zs[:, L.slices["d"]] = ccr.labels(zx)
    return zs
