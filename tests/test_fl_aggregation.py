"""Spanning aggregation: K = 1 equals FedAvg, per-tree sums, dispatch, mixing, bad forests."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from fedspan.aggregation import (ForestError, cluster_models, cluster_sums, forest_levels, mix_clusters, reduce_routes,
                                 should_mix, tree_sums)


def random_forest(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """A uniformly shuffled forest with exactly k roots: node i attaches to an earlier node."""
    order = rng.permutation(n)
    parent = np.full(n, -1)
    for pos in range(k, n):
        parent[order[pos]] = order[rng.integers(0, pos)]
    return parent


@st.composite
def forests(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, n))
    seed = draw(st.integers(0, 2**31 - 1))
    return random_forest(np.random.default_rng(seed), n, k), seed


def test_single_tree_equals_centralized_fedavg():
    rng = np.random.default_rng(0)
    n, p = 66, 257
    parent = random_forest(rng, n, 1)
    params = torch.randn(n, p, dtype=torch.float32)
    weights = rng.integers(1, 200, n).astype(float)
    sums, wsum, messages = tree_sums(params, weights, parent, np.zeros(n, int), 1)
    fedavg = (params.double() * torch.as_tensor(weights)[:, None]).sum(0) / weights.sum()
    torch.testing.assert_close(sums[0] / wsum[0], fedavg, rtol=1e-12, atol=1e-12)
    assert wsum[0] == pytest.approx(weights.sum())
    assert messages == n - 1


@settings(max_examples=40, deadline=None)
@given(forests())
def test_tree_sums_match_brute_force_per_root(case):
    parent, seed = case
    n = len(parent)
    rng = np.random.default_rng(seed)
    params = torch.as_tensor(rng.normal(size=(n, 5)))
    weights = rng.uniform(0, 10, n)
    include = rng.random(n) < 0.8
    # Reference: networkx finds which root each node hangs under.
    g = nx.DiGraph([(c, int(p)) for c, p in enumerate(parent) if p >= 0])
    g.add_nodes_from(range(n))
    roots = np.flatnonzero(parent < 0)
    tree_of = np.zeros(n, int)
    for k, r in enumerate(roots):
        for c in nx.ancestors(g, int(r)):
            tree_of[c] = k
        tree_of[r] = k
    sums, wsum, _ = tree_sums(params, weights, parent, tree_of, len(roots), include)
    for k in range(len(roots)):
        members = (tree_of == k) & include
        ref = (params[members] * torch.as_tensor(weights[members])[:, None]).sum(0)
        torch.testing.assert_close(sums[k], ref, rtol=1e-10, atol=1e-10)
        assert wsum[k] == pytest.approx(weights[members].sum())


@settings(max_examples=40, deadline=None)
@given(forests())
def test_levels_match_networkx_depth_and_root_of_names_each_tree(case):
    parent, _ = case
    n = len(parent)
    lv = forest_levels(parent)
    g = nx.Graph([(c, int(p)) for c, p in enumerate(parent) if p >= 0])
    g.add_nodes_from(range(n))
    for node in range(n):
        assert nx.shortest_path_length(g, node, int(lv.root_of[node])) == lv.depth[node]
        assert parent[lv.root_of[node]] == -1
    # Every node of a tree names the same root (the dispatch gives each node its tree's model).
    kids = np.flatnonzero(parent >= 0)
    assert (lv.root_of[kids] == lv.root_of[parent[kids]]).all()


def test_excluded_node_relays_children_without_contributing():
    parent = np.array([-1, 0, 1])  # chain 2 -> 1 -> 0
    params = torch.tensor([[1.0], [100.0], [3.0]])
    sums, wsum, messages = tree_sums(params, np.array([1.0, 1.0, 1.0]), parent, np.zeros(3, int), 1,
                                     include=np.array([True, False, True]))
    assert sums[0].item() == pytest.approx(4.0)
    assert wsum[0] == pytest.approx(2.0)
    assert messages == 0  # both edges touch the excluded relay


def test_cluster_models_keep_old_model_without_data_and_mix_is_weighted():
    prev = torch.tensor([[1.0, 1.0], [5.0, 5.0]])
    new = cluster_models(torch.tensor([[4.0, 8.0], [0.0, 0.0]], dtype=torch.float64), np.array([2.0, 0.0]), prev)
    torch.testing.assert_close(new, torch.tensor([[2.0, 4.0], [5.0, 5.0]]))
    mixed = mix_clusters(torch.tensor([[0.0], [3.0]]), np.array([1.0, 2.0]))
    torch.testing.assert_close(mixed, torch.tensor([[2.0], [2.0]]))
    assert [should_mix(r, 3) for r in range(6)] == [False, False, True, False, False, True]
    assert not should_mix(0, 0)


@pytest.mark.parametrize("parent, fragment", [
    (np.array([1, 0]), "cycle"),
    (np.array([-1, 5]), r"parent\[1\] = 5"),
    (np.array([[-1]]), "1-D"),
    (np.array([-1.0, 0.0]), "integer"),
])
def test_bad_forest_is_rejected_by_name(parent, fragment):
    with pytest.raises(ForestError, match=fragment):
        forest_levels(parent)


def test_cluster_sums_do_not_depend_on_chunking_and_check_shapes():
    rng = np.random.default_rng(3)
    params = torch.as_tensor(rng.normal(size=(37, 6)), dtype=torch.float32)
    weights = rng.uniform(0, 5, 37)
    cluster = rng.integers(0, 4, 37)
    whole, wsum = cluster_sums(params, weights, cluster, 4, chunk_rows=1000)
    for rows in (1, 5, 36):
        part, psum = cluster_sums(params, weights, cluster, 4, chunk_rows=rows)
        torch.testing.assert_close(part, whole, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(psum, wsum)
    ref = torch.stack([(params.double()[cluster == k] * torch.as_tensor(weights[cluster == k])[:, None]).sum(0)
                       for k in range(4)])
    torch.testing.assert_close(whole, ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ForestError, match="one row per entry"):
        cluster_sums(params, weights[:-1], cluster, 4)


def test_reduce_routes_name_each_nodes_tree_and_count_messages_between_included():
    parent = np.array([-1, 0, 0, 1, -1, 4])  # trees {0, 1, 2, 3} and {4, 5}
    cluster, messages = reduce_routes(parent, np.array([1, 9, 9, 9, 0, 9]), include=None)
    assert cluster.tolist() == [1, 1, 1, 1, 0, 0] and messages == 4
    _, messages = reduce_routes(parent, np.array([1, 9, 9, 9, 0, 9]), include=np.array([1, 0, 1, 1, 1, 1], bool))
    assert messages == 2  # 1 -> 0 and 3 -> 1 touch the excluded satellite 1
