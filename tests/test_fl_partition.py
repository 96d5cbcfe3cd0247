"""Partitions: disjoint covers for IID/Dirichlet (hypothesis), and a stream whose D_n(t) moves with the satellite."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedspan.partition import PartitionError, RegionalStream, dirichlet, iid

labels_st = st.lists(st.integers(0, 9), min_size=1, max_size=300).map(lambda v: np.array(v, dtype=np.int64))
PROPS = settings(max_examples=40, deadline=None)


def assert_disjoint_cover(parts: list[np.ndarray], n: int, clients: int) -> None:
    assert len(parts) == clients
    flat = np.concatenate(parts)
    assert len(flat) == n and np.array_equal(np.sort(flat), np.arange(n))
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)


@PROPS
@given(labels_st, st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_iid_is_balanced_disjoint_cover(labels, clients, seed):
    parts = iid(labels, clients, np.random.default_rng(seed))
    assert_disjoint_cover(parts, len(labels), clients)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


@PROPS
@given(labels_st, st.integers(1, 40), st.floats(0.01, 100), st.integers(0, 2**32 - 1))
def test_dirichlet_is_disjoint_cover(labels, clients, alpha, seed):
    parts = dirichlet(labels, clients, alpha, np.random.default_rng(seed))
    assert_disjoint_cover(parts, len(labels), clients)


def label_entropy(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    """Mean entropy (nats) of the clients' label histograms."""
    out = []
    for p in parts:
        if len(p):
            q = np.bincount(labels[p], minlength=10) / len(p)
            out.append(-(q[q > 0] * np.log(q[q > 0])).sum())
    return float(np.mean(out))


def test_dirichlet_alpha_controls_skew():
    labels = np.repeat(np.arange(10), 500)
    rng = np.random.default_rng(0)
    skewed = label_entropy(labels, dirichlet(labels, 50, 0.05, rng))
    mild = label_entropy(labels, dirichlet(labels, 50, 100.0, rng))
    assert skewed < 1.0 < np.log(10) - 0.1 < mild


def test_bad_parameters_raise_partition_error():
    rng = np.random.default_rng(0)
    with pytest.raises(PartitionError, match="num_clients"):
        iid(np.zeros(5, dtype=int), 0, rng)
    with pytest.raises(PartitionError, match="alpha"):
        dirichlet(np.zeros(5, dtype=int), 2, -1.0, rng)
    with pytest.raises(PartitionError, match="1-D integer"):
        iid(np.zeros((2, 2)), 2, rng)


def ground_tracks(num_sats: int, times: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sub-satellite points of circular 53-degree orbits (enough geometry to cross regions)."""
    rng = np.random.default_rng(seed)
    phase, node = rng.uniform(0, 2 * np.pi, num_sats), rng.uniform(-180, 180, num_sats)
    u = phase[None, :] + 2 * np.pi * times[:, None] / 5700.0
    lat = np.degrees(np.arcsin(np.sin(np.radians(53)) * np.sin(u)))
    lon = (node[None, :] + np.degrees(np.arctan2(np.cos(np.radians(53)) * np.sin(u), np.cos(u)))
           - times[:, None] * 360 / 86164 + 180) % 360 - 180
    return lat, lon


def test_stream_follows_regions_and_expires():
    labels = np.repeat(np.arange(10), 200)
    stream = RegionalStream(labels, 8, seed=1, region_deg=30, alpha=0.3, arrival_rate=0.2, ttl_s=300)
    times = np.arange(0, 3000, 60.0)
    lat, lon = ground_tracks(8, times)
    pool_region = np.empty(len(labels), dtype=np.int64)
    for r, pool in enumerate(stream.region_pools):
        pool_region[pool] = r
    history = []
    for k, t in enumerate(times):
        held = stream.update(t, lat[k], lon[k])
        history.append(held)
        # Held samples arrived in the last TTL (5 steps of 60 s, the oldest step already expired)
        # from a cell the satellite was over at one of those steps.
        visited = [set(stream.region_of(lat[max(0, k - 4):k + 1, n], lon[max(0, k - 4):k + 1, n]).tolist())
                   for n in range(8)]
        for n, idx in enumerate(held):
            assert len(np.unique(idx)) == len(idx)
            assert set(pool_region[idx].tolist()) <= visited[n]
    sizes = np.array([[len(h) for h in held] for held in history])
    assert sizes.mean() > 20  # data flows in
    # D_n(t) really changes from round to round for every satellite.
    for n in range(8):
        assert sum(not np.array_equal(a[n], b[n]) for a, b in zip(history, history[1:])) > len(times) // 2


def test_stream_capacity_keeps_newest_and_is_seeded():
    labels = np.arange(1000) % 10
    lat, lon = np.zeros(3), np.array([0.0, 100.0, -100.0])

    def run(seed: int) -> list[np.ndarray]:
        s = RegionalStream(labels, 3, seed=seed, region_deg=90, alpha=10.0, arrival_rate=1.0, ttl_s=100, capacity=7)
        s.update(0.0, lat, lon)
        return s.update(50.0, lat, lon)

    a, b = run(5), run(5)
    assert all(len(x) == 7 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_stream_rejects_bad_points_and_time_travel():
    s = RegionalStream(np.zeros(20, dtype=int), 2, seed=0)
    s.update(10.0, np.zeros(2), np.zeros(2))
    with pytest.raises(PartitionError, match="backwards"):
        s.update(5.0, np.zeros(2), np.zeros(2))
    with pytest.raises(PartitionError, match=r"shape \(2,\)"):
        s.update(20.0, np.zeros(3), np.zeros(3))
    with pytest.raises(PartitionError, match="latitudes"):
        s.update(20.0, np.array([0.0, 95.0]), np.zeros(2))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.lists(st.floats(0, 500), min_size=1, max_size=8), st.integers(0, 2**32 - 1),
       st.sampled_from([None, 1, 5]), st.floats(10, 400))
def test_stream_holdings_are_valid_subsets(num_sats, gaps, seed, capacity, ttl):
    labels = np.arange(600) % 7
    stream = RegionalStream(labels, num_sats, seed=seed, region_deg=45, alpha=0.5, arrival_rate=0.3,
                            ttl_s=ttl, capacity=capacity)
    rng = np.random.default_rng(seed)
    pool_region = np.empty(len(labels), dtype=np.int64)
    for r, pool in enumerate(stream.region_pools):
        pool_region[pool] = r
    seen: list[set[int]] = [set() for _ in range(num_sats)]
    t = 0.0
    for gap in gaps:
        t += gap
        lat, lon = rng.uniform(-90, 90, num_sats), rng.uniform(-180, 180, num_sats)
        cells = stream.region_of(lat, lon)
        for n in range(num_sats):
            seen[n].add(int(cells[n]))
        held = stream.update(t, lat, lon)
        assert len(held) == num_sats
        for n, idx in enumerate(held):
            assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)  # sorted, no duplicates
            assert np.all((idx >= 0) & (idx < len(labels)))
            assert capacity is None or len(idx) <= capacity
            assert set(pool_region[idx].tolist()) <= seen[n]  # only from cells it has been over
