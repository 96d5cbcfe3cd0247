"""ISL candidate graphs: brute-force references, hypothesis invariants, windows, link budget."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbits import (
    Constellation,
    LinkParams,
    OrbitsError,
    laser_rate_bps,
    laser_rate_per_watt,
    propagation_delay_s,
    snapshots,
)
from orbits.candidates import feasible_pairs, knn_links
from orbits.frames import WGS84_A_KM
from orbits.geometry import segment_min_radius_km


def _brute_knn(points: np.ndarray, active: np.ndarray, k: int, params: LinkParams) -> set[tuple[int, int]]:
    """All-pairs reference: each active node's k nearest feasible active neighbours, sampled LOS."""
    samples = np.linspace(0.0, 1.0, 2001)
    pairs = set()
    for i in np.flatnonzero(active):
        candidates = []
        for j in np.flatnonzero(active):
            if i == j:
                continue
            d = float(np.linalg.norm(points[i] - points[j]))
            path = points[i][None, :] + samples[:, None] * (points[j] - points[i])[None, :]
            if d <= params.max_distance_km and np.linalg.norm(path, axis=1).min() >= WGS84_A_KM + params.clearance_km:
                candidates.append((d, j))
        for _, j in sorted(candidates)[:k]:
            pairs.add((min(i, j), max(i, j)))
    return pairs


shells = st.lists(
    st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1), st.floats(6500, 9000)),
    min_size=2,
    max_size=40,
    unique_by=lambda r: r[:3],  # duplicate directions would make neighbour ranks ambiguous (ties)
)


def _points(raw: list[tuple[float, float, float, float]]) -> np.ndarray:
    direction = np.array([r[:3] for r in raw]) + 1e-3
    return direction / np.linalg.norm(direction, axis=1, keepdims=True) * np.array([r[3] for r in raw])[:, None]


@settings(max_examples=60, deadline=None)
@given(shells, st.integers(1, 6), st.floats(1000, 15000), st.floats(0, 400), st.integers(0, 2**31 - 1))
def test_knn_matches_all_pairs_reference(raw, k, d_max, clearance, seed) -> None:
    points = _points(raw)
    active = np.random.default_rng(seed).random(len(points)) > 0.15
    params = LinkParams(max_distance_km=d_max, clearance_km=clearance)
    edges = knn_links(points, active, k, params)
    # Invariants: canonical (i < j, sorted, unique), only active nodes, no edge through the Earth.
    assert np.all(edges[:, 0] < edges[:, 1])
    assert len(np.unique(edges, axis=0)) == len(edges) and np.array_equal(edges, np.unique(edges, axis=0))
    assert np.all(active[edges.ravel()])
    if len(edges):
        assert np.all(segment_min_radius_km(points[edges[:, 0]], points[edges[:, 1]]) >= WGS84_A_KM + clearance - 1e-6)
        assert np.all(np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1) <= d_max + 1e-9)
    assert {tuple(e) for e in edges.tolist()} == _brute_knn(points, active, k, params)


def test_segment_clearance_against_sampling() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 3)) * 7000, rng.normal(size=(200, 3)) * 7000
    sampled = np.linalg.norm(a[:, None] + np.linspace(0, 1, 10001)[None, :, None] * (b - a)[:, None], axis=2).min(axis=1)
    assert np.allclose(segment_min_radius_km(a, b), sampled, atol=0.2)


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from(["small", "iridium", "oneweb"]),
    st.sampled_from(["knn", "grid"]),
    st.floats(0, 6000),
    st.integers(2, 8),
    st.floats(1500, 6000),
)
def test_snapshot_graph_invariants(preset: str, policy: str, offset: float, terminals: int, d_max: float) -> None:
    constellation = _preset(preset)
    params = LinkParams(terminals=terminals, max_distance_km=d_max)
    snap = next(snapshots(constellation, offsets_s=[offset], policy=policy, k=3, params=params))
    graph = snap.to_networkx()
    assert graph.number_of_nodes() == len(constellation) and graph.number_of_edges() == len(snap.edges)
    adjacency = nx.to_numpy_array(graph, nodelist=range(len(constellation)))
    assert np.array_equal(adjacency, adjacency.T)  # symmetric, no self loops
    assert np.all(np.diag(adjacency) == 0)
    if len(snap.edges):
        a, b = snap.positions_km[snap.edges[:, 0]], snap.positions_km[snap.edges[:, 1]]
        assert np.all(segment_min_radius_km(a, b) >= WGS84_A_KM + params.clearance_km)
        assert np.all(snap.distance_km <= d_max)
        assert np.allclose(snap.delay_s, snap.distance_km / 299792.458)
        assert np.allclose(snap.rate_bps, np.minimum(snap.rate_per_watt * params.max_tx_power_w, params.max_rate_bps))
    if policy == "grid":
        assert snap.degrees().max(initial=0) <= min(terminals, 4)
        assert set(map(tuple, snap.edges.tolist())) <= set(map(tuple, constellation.grid_edges.tolist()))


_CACHE: dict[str, Constellation] = {}


def _preset(name: str) -> Constellation:
    if name not in _CACHE:
        _CACHE[name] = Constellation.from_preset(name)
    return _CACHE[name]


def test_grid_is_plus_grid_on_walker_shell() -> None:
    constellation = _preset("starlink-shell1")
    edges = constellation.grid_edges
    assert len(edges) == 2 * 1584 and np.all(np.bincount(edges.ravel()) == 4)
    planes, slots = constellation.plane_ids, constellation.index_in_plane
    same_plane = planes[edges[:, 0]] == planes[edges[:, 1]]
    gap = np.abs(slots[edges[same_plane, 0]] - slots[edges[same_plane, 1]])
    assert np.all((gap == 1) | (gap == 21))  # ring neighbours
    plane_gap = np.abs(planes[edges[~same_plane, 0]] - planes[edges[~same_plane, 1]])
    assert np.all((plane_gap == 1) | (plane_gap == 71))  # adjacent planes, with the wrap-around seam
    snap = next(snapshots(constellation, policy="grid"))
    assert len(snap.edges) == len(edges)  # all +Grid links are feasible at 550 km


def test_window_feasibility_keeps_only_links_feasible_throughout() -> None:
    constellation = _preset("small")
    params = LinkParams(max_distance_km=4500)
    window = 900.0
    now = next(snapshots(constellation, offsets_s=[0.0], policy="knn", k=4, params=params))
    held = next(snapshots(constellation, offsets_s=[0.0], policy="knn", k=4, params=params, window_s=window, window_step_s=100))
    assert set(map(tuple, held.edges.tolist())) <= set(map(tuple, now.edges.tolist()))
    later = constellation.propagate(offsets_s=np.arange(0.0, window + 1, 100.0))
    ok = feasible_pairs(later.positions_km, later.valid, now.edges, params).all(axis=0)
    assert np.array_equal(held.edges, now.edges[ok]) and 0 < ok.sum() < len(ok)


def test_held_links_join_the_candidates_while_feasible_for_their_own_window() -> None:
    """``keep``: a held pair outside the k nearest joins the candidates if it is feasible now and over
    ``hold_window_s``; policy links must last ``window_s``. Checked against feasible_pairs on propagated states."""
    constellation = _preset("small")
    params = LinkParams(max_distance_km=4500)
    everything = next(snapshots(constellation, offsets_s=[0.0], policy="knn", k=len(constellation), params=params))
    near = next(snapshots(constellation, offsets_s=[0.0], policy="knn", k=2, params=params))
    far = np.array([p for p in everything.edges.tolist() if tuple(p) not in set(map(tuple, near.edges.tolist()))])
    snap = next(snapshots(constellation, offsets_s=[0.0], policy="knn", k=2, params=params, window_s=900.0,
                          window_step_s=100.0, keep=far[:, ::-1], hold_window_s=100.0))
    states = constellation.propagate(offsets_s=np.arange(0.0, 901.0, 100.0))
    lasts = feasible_pairs(states.positions_km, states.valid, near.edges, params).all(axis=0)
    holds = feasible_pairs(states.positions_km[:2], states.valid[:2], far, params).all(axis=0)
    expected = {tuple(p) for p in near.edges[lasts].tolist()} | {tuple(p) for p in far[holds].tolist()}
    assert set(map(tuple, snap.edges.tolist())) == expected
    assert 0 < holds.sum() < len(far) and 0 < lasts.sum() < len(lasts)
    with pytest.raises(OrbitsError, match="keep"):
        next(snapshots(constellation, keep=[[0, len(constellation)]]))


def test_bad_snapshot_options_raise_orbits_errors() -> None:
    constellation = _preset("small")
    for kwargs in ({"policy": "ring"}, {"k": 0}, {"window_s": -1.0}, {"policy": "grid", "params": LinkParams(terminals=1)}):
        with pytest.raises(OrbitsError):
            next(snapshots(constellation, **kwargs))
    with pytest.raises(OrbitsError):
        LinkParams(max_distance_km=-1)


def test_laser_budget_matches_the_formula() -> None:
    params = LinkParams()
    wavelength, d = 1550e-9, 1000e3
    gain = (math.pi * 0.1 / wavelength) ** 2
    received = 1.0 * 0.5 * 0.5 * gain * gain * 10 ** (-0.3) * (wavelength / (4 * math.pi * d)) ** 2
    expected = received / (6.62607015e-34 * 299792458.0 / wavelength * 50)
    assert laser_rate_per_watt(1000.0, params) == pytest.approx(expected, rel=1e-12)
    # A monomial: rate ~ P d^-2, until the 10 Gbit/s cap.
    assert laser_rate_per_watt(2000.0) == pytest.approx(laser_rate_per_watt(1000.0) / 4)
    tiny = LinkParams(aperture_diameter_m=0.001)
    assert laser_rate_bps(1000.0, 2.0, tiny) == pytest.approx(2 * laser_rate_per_watt(1000.0, tiny))
    assert laser_rate_bps(1000.0, 2.0, params) == 10e9
    assert propagation_delay_s(299792.458) == pytest.approx(1.0)
    with pytest.raises(OrbitsError):
        laser_rate_per_watt(0.0)


def test_real_starlink_snapshot_graphs(starlink_tle: Path) -> None:
    constellation = Constellation.from_file(starlink_tle)
    for policy in ("knn", "grid"):
        graphs = list(snapshots(constellation, offsets_s=[0.0, 3600.0], policy=policy))
        for snap in graphs:
            assert snap.active.mean() > 0.99 and len(snap.edges) > len(constellation)
            assert np.all(snap.distance_km <= 5000)
            if policy == "grid":
                assert snap.degrees().max() <= 4
