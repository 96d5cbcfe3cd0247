"""Memory that grows linearly in satellites (issue #25, item 8): plane inference without all-pairs lists."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

import orbits.planes as planes


def _brute_force(features: np.ndarray) -> np.ndarray:
    """The former all-pairs single linkage, for comparison."""
    pairs = cKDTree(features).query_pairs(1.0, output_type="ndarray")
    n = len(features)
    return connected_components(coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)),
                                directed=False)[1]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(np.unique(np.column_stack((a, b)), axis=0)) == len(np.unique(a)) == len(np.unique(b))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 40))
def test_single_linkage_equals_the_all_pairs_version(seed, clusters, per_cluster):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 8, size=(clusters, 4))
    jitter = rng.choice([0.0, 1e-9, 0.3], size=(clusters * per_cluster, 1))  # duplicates, near-duplicates, spread
    features = np.repeat(centres, per_cluster, axis=0) + jitter * rng.standard_normal((clusters * per_cluster, 4))
    assert _same_partition(planes._single_linkage(features), _brute_force(features))


def test_a_plane_of_identical_satellites_is_searched_once(monkeypatch):
    sizes = []

    class Recording(cKDTree):
        def __init__(self, data, *args, **kwargs):
            sizes.append(len(data))
            super().__init__(data, *args, **kwargs)

    monkeypatch.setattr(planes, "cKDTree", Recording)
    features = np.repeat(np.arange(200.0)[:, None] * np.array([[0.0, 0.0, 3.0, 0.0]]), 500, axis=0)  # 100,000
    labels = planes._single_linkage(features)
    assert sizes == [200]  # the old version listed 200 * 500 * 499 / 2 = 25 million pairs
    assert len(np.unique(labels)) == 200 and (np.bincount(labels) == 500).all()
