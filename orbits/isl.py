"""Time-varying ISL graphs: one Snapshot (plain arrays + networkx view) per time offset."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbits.candidates import canonical_edges, feasible_pairs, knn_links
from orbits.constellation import Constellation
from orbits.errors import OrbitsError
from orbits.links import LinkParams, link_rate_bps, link_rate_per_watt, propagation_delay_s
from orbits.propagation import DEFAULT_CHUNK_STATES, Propagation

__all__ = ["Snapshot", "snapshots", "POLICIES"]

POLICIES = ("knn", "grid")


@dataclass
class Snapshot:
    """The candidate ISL graph at start + time_s: per-satellite arrays (N,) and per-edge arrays (E,).

    `edges` are undirected (i < j, sorted). `rate_bps` is the capped laser rate at maximum power,
    `rate_per_watt` the uncapped coefficient (rate = min(coef * P, cap)). Inactive satellites (SGP4
    failure at this time) have NaN positions and no edges.
    """

    time_s: float
    start: datetime
    positions_km: NDArray[np.float64]
    active: NDArray[np.bool_]
    edges: NDArray[np.int64]
    distance_km: NDArray[np.float64]
    rate_bps: NDArray[np.float64]
    rate_per_watt: NDArray[np.float64]
    delay_s: NDArray[np.float64]
    plane_ids: NDArray[np.int64]

    @property
    def num_nodes(self) -> int:
        """Number of satellites N (active or not)."""
        return len(self.positions_km)

    def degrees(self) -> NDArray[np.int64]:
        """Candidate degree of every satellite (N,)."""
        return np.bincount(self.edges.ravel(), minlength=self.num_nodes)

    def to_networkx(self) -> nx.Graph:
        """Undirected graph on 0..N-1 (node attrs: active, plane) with distance_km, rate_bps, delay_s edges."""
        graph = nx.Graph(time_s=self.time_s, start=self.start)
        graph.add_nodes_from(
            (n, {"active": bool(a), "plane": int(p)}) for n, (a, p) in enumerate(zip(self.active, self.plane_ids))
        )
        graph.add_edges_from(
            (int(i), int(j), {"distance_km": float(d), "rate_bps": float(r), "rate_per_watt": float(c), "delay_s": float(s)})
            for (i, j), d, r, c, s in zip(self.edges, self.distance_km, self.rate_bps, self.rate_per_watt, self.delay_s)
        )
        return graph


def _check_arguments(policy: str, k: int, window_s: float, window_step_s: float, params: LinkParams) -> None:
    """Reject unusable snapshot options with a message naming the value."""
    if policy not in POLICIES:
        raise OrbitsError(f"unknown ISL policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if policy == "knn" and (int(k) != k or k < 1):
        raise OrbitsError(f"k must be a positive integer, got {k!r}")
    if policy == "grid" and params.terminals < 2:
        raise OrbitsError(f"+Grid needs at least 2 laser terminals per satellite, got {params.terminals}")
    if not (math.isfinite(window_s) and window_s >= 0):
        raise OrbitsError(f"window_s must be finite and >= 0, got {window_s!r}")
    if not (math.isfinite(window_step_s) and window_step_s > 0):
        raise OrbitsError(f"window_step_s must be finite and > 0, got {window_step_s!r}")


def _window_states(
    constellation: Constellation, chunk: Propagation, window_s: float, window_step_s: float, chunk_states: int
) -> tuple[NDArray, NDArray] | None:
    """Positions (T, m, N, 3) and validity (T, m, N) at m samples in (t, t + window_s], or None."""
    if window_s <= 0:
        return None
    samples = window_s * np.arange(1, math.ceil(window_s / window_step_s) + 1) / math.ceil(window_s / window_step_s)
    offsets = (chunk.offsets_s[:, None] + samples[None, :]).ravel()
    later = constellation.propagate(chunk.start, offsets)
    shape = (len(chunk.offsets_s), len(samples), len(constellation))
    return later.positions_km.reshape(*shape, 3), later.valid.reshape(shape)


def _grid_pairs(constellation: Constellation, params: LinkParams) -> NDArray[np.int64]:
    """+Grid pairs usable with the terminal count: all four need 4 terminals, else intra-plane only."""
    pairs = constellation.grid_edges
    if params.terminals >= 4:
        return pairs
    planes = constellation.plane_ids
    return pairs[planes[pairs[:, 0]] == planes[pairs[:, 1]]]


def snapshots(
    constellation: Constellation,
    start: datetime | None = None,
    offsets_s: ArrayLike = (0.0,),
    policy: str = "knn",
    k: int = 8,
    params: LinkParams = LinkParams(),
    window_s: float = 0.0,
    window_step_s: float = 60.0,
    chunk_states: int = DEFAULT_CHUNK_STATES,
    keep: ArrayLike | None = None,
    hold_window_s: float | None = None,
) -> Iterator[Snapshot]:
    """Yield the candidate ISL graph at each start + offset (start defaults to the constellation epoch).

    policy "knn": each satellite's k nearest feasible neighbours (KD-tree); "grid": +Grid (2 intra-plane
    + 2 adjacent-plane partners, degree <= 4). With window_s > 0 an edge must also be feasible at
    samples every <= window_step_s seconds up to t + window_s (both ends included).

    ``keep`` (L, 2): satellite pairs whose links are up (held from the last round). They join the candidates
    wherever they stay feasible for ``hold_window_s`` (default ``window_s``), even when the policy would not
    propose them: a terminal that keeps tracking its partner needs no new acquisition, so a held link is worth
    more than its distance says. Without it a k-nearest set churns between instants and almost every link must
    be acquired again. A longer ``window_s`` than ``hold_window_s`` asks new links to last (amortise their
    acquisition) while held ones need only last the round.
    """
    hold_window_s = window_s if hold_window_s is None else hold_window_s
    _check_arguments(policy, k, max(window_s, hold_window_s), window_step_s, params)
    _check_arguments(policy, k, min(window_s, hold_window_s), window_step_s, params)
    n = len(constellation)
    held = _held_pairs(keep, n)
    longest = max(window_s, hold_window_s if len(held) else 0.0)
    samples_per_step = 1 + (math.ceil(longest / window_step_s) if longest > 0 else 0)
    grid = _grid_pairs(constellation, params) if policy == "grid" else None
    for chunk in constellation.propagate_chunks(start, offsets_s, max(1, chunk_states // samples_per_step)):
        window = _window_states(constellation, chunk, window_s, window_step_s, chunk_states)
        hold = window if hold_window_s == window_s or not len(held) else _window_states(
            constellation, chunk, hold_window_s, window_step_s, chunk_states)
        if grid is not None:
            usable = feasible_pairs(chunk.positions_km, chunk.valid, grid, params)
            if window is not None:
                usable &= feasible_pairs(window[0], window[1], grid, params).all(axis=1)
        for t, offset in enumerate(chunk.offsets_s):
            positions, active = chunk.positions_km[t], chunk.valid[t]
            if grid is not None:
                edges = grid[usable[t]]
            else:
                edges = knn_links(positions, active, int(k), params)
                if window is not None:
                    edges = edges[feasible_pairs(window[0][t], window[1][t], edges, params).all(axis=0)]
            if len(held):
                still = feasible_pairs(positions, active, held, params)
                if hold is not None:
                    still &= feasible_pairs(hold[0][t], hold[1][t], held, params).all(axis=0)
                edges = canonical_edges(np.concatenate((edges[:, 0], held[still, 0])),
                                        np.concatenate((edges[:, 1], held[still, 1])), n)
            yield _snapshot(constellation, chunk.start, float(offset), positions, active, edges, params)


def _held_pairs(keep: ArrayLike | None, num_nodes: int) -> NDArray[np.int64]:
    """``keep`` as canonical (L, 2) pairs, checked: every index a satellite of the constellation."""
    if keep is None:
        return np.zeros((0, 2), np.int64)
    pairs = np.asarray(keep)
    if pairs.size == 0:
        return np.zeros((0, 2), np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise OrbitsError(f"keep must be integer satellite pairs of shape (L, 2), got shape {pairs.shape}")
    bad = pairs[(pairs < 0) | (pairs >= num_nodes)]
    if len(bad):
        raise OrbitsError(f"keep holds satellite index {int(bad[0])}; the constellation has 0..{num_nodes - 1}")
    return canonical_edges(pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64), num_nodes)


def _snapshot(
    constellation: Constellation,
    start: datetime,
    time_s: float,
    positions: NDArray[np.float64],
    active: NDArray[np.bool_],
    edges: NDArray[np.int64],
    params: LinkParams,
) -> Snapshot:
    """Attach link budgets to the edges of one instant."""
    distance = np.linalg.norm(positions[edges[:, 0]] - positions[edges[:, 1]], axis=1)
    per_watt = link_rate_per_watt(distance, params) if len(edges) else np.zeros(0)
    rate = link_rate_bps(distance, params.max_tx_power_w, params) if len(edges) else np.zeros(0)
    return Snapshot(
        time_s=time_s,
        start=start,
        positions_km=positions,
        active=active,
        edges=edges,
        distance_km=distance,
        rate_bps=rate,
        rate_per_watt=per_watt,
        delay_s=propagation_delay_s(distance),
        plane_ids=constellation.plane_ids,
    )
