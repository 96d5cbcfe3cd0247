"""Candidate inter-satellite links of one instant: k nearest feasible neighbours or a fixed pair list."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from orbits.frames import WGS84_A_KM
from orbits.geometry import clears_earth
from orbits.links import LinkParams

__all__ = ["knn_links", "feasible_pairs", "canonical_edges"]

# Rows whose first k in-range neighbours include Earth-blocked ones are re-queried this much deeper.
_REQUERY_FACTOR = 4


def canonical_edges(i: NDArray[np.int64], j: NDArray[np.int64], num_nodes: int) -> NDArray[np.int64]:
    """Undirected edges (E, 2) with i < j, duplicates and self-loops removed, sorted lexicographically."""
    low, high = np.minimum(i, j), np.maximum(i, j)
    keys = np.sort(low[low != high] * num_nodes + high[low != high])
    # sort + neighbour mask is several times faster than np.unique on ~10^4 keys (hot path).
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
    return np.column_stack((keys // num_nodes, keys % num_nodes)).astype(np.int64)


def knn_links(
    positions_km: NDArray[np.float64], active: NDArray[np.bool_], k: int, params: LinkParams, workers: int = 1
) -> NDArray[np.int64]:
    """Edges (E, 2) joining each active satellite to its k nearest feasible active neighbours.

    Feasible: distance <= d_max and the segment clears Earth radius + clearance. The union is taken,
    so a satellite's candidate degree can exceed k (it may be chosen by others); the tree degree
    limit (terminals) is the optimizer's job.
    """
    nodes = np.flatnonzero(active)
    if len(nodes) < 2 or k < 1:
        return np.zeros((0, 2), dtype=np.int64)
    points = positions_km[nodes]
    tree = cKDTree(points)
    rows, cols = _nearest_visible(tree, points, np.arange(len(nodes)), min(k + 1, len(nodes)), k, params, workers)
    return canonical_edges(nodes[rows], nodes[cols], len(positions_km))


def _nearest_visible(
    tree: cKDTree, points: NDArray, rows: NDArray[np.int64], query: int, k: int, params: LinkParams, workers: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(row, neighbour) pairs: up to k nearest in-range, Earth-clearing neighbours of each given row."""
    distance, neighbour = tree.query(points[rows], k=query, distance_upper_bound=params.max_distance_km, workers=workers)
    distance, neighbour = distance[:, 1:], neighbour[:, 1:]  # column 0 is the point itself
    in_range = np.isfinite(distance)
    neighbour = np.where(in_range, neighbour, 0)
    visible = in_range & _clear_line_of_sight(points, rows, neighbour, distance, params)
    keep = visible & (np.cumsum(visible, axis=1) <= k)
    pair_rows, pair_cols = np.broadcast_to(rows[:, None], keep.shape)[keep], neighbour[keep]
    # A row whose every returned neighbour was in range but some were blocked may have more beyond.
    deeper = rows[in_range[:, -1] & (keep.sum(axis=1) < k)]
    if len(deeper) and query < len(points):
        more = min(len(points), 1 + _REQUERY_FACTOR * (query - 1))
        extra_rows, extra_cols = _nearest_visible(tree, points, deeper, more, k, params, workers)
        redone = np.isin(pair_rows, deeper)
        pair_rows = np.concatenate((pair_rows[~redone], extra_rows))
        pair_cols = np.concatenate((pair_cols[~redone], extra_cols))
    return pair_rows, pair_cols


def _clear_line_of_sight(
    points: NDArray, rows: NDArray[np.int64], neighbour: NDArray[np.int64], distance: NDArray, params: LinkParams
) -> NDArray[np.bool_]:
    """Exact Earth-clearance test, evaluated only where a cheap sufficient condition does not decide."""
    limit = WGS84_A_KM + params.clearance_km
    radius = np.linalg.norm(points, axis=1)
    inner = np.minimum(radius[rows][:, None], radius[neighbour])
    # A chord of length d between points at radius >= r never dips below sqrt(r^2 - d^2 / 4).
    clear = inner**2 - 0.25 * np.where(np.isfinite(distance), distance, 0.0) ** 2 >= limit**2
    unsure = ~clear & np.isfinite(distance)
    if unsure.any():
        r_idx, c_idx = np.nonzero(unsure)
        clear[unsure] = clears_earth(points[rows[r_idx]], points[neighbour[r_idx, c_idx]], limit)
    return clear


def feasible_pairs(
    positions_km: NDArray[np.float64], active: NDArray[np.bool_], pairs: NDArray[np.int64], params: LinkParams
) -> NDArray[np.bool_]:
    """Feasibility of fixed pairs (E, 2) for positions (..., N, 3) and activity (..., N): shape (..., E)."""
    a = positions_km[..., pairs[:, 0], :]
    b = positions_km[..., pairs[:, 1], :]
    gap = a - b
    in_range = np.einsum("...i,...i->...", gap, gap) <= params.max_distance_km**2
    both_active = active[..., pairs[:, 0]] & active[..., pairs[:, 1]]
    return both_active & in_range & clears_earth(a, b, WGS84_A_KM + params.clearance_km)
