"""Problem validation, forests against networkx, the cost model against an independent critical path, the bound."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from optimization import (
    DegreeInfeasibleError,
    DisconnectedGraphError,
    InfeasibleBudgetError,
    InvalidForestError,
    InvalidProblemError,
    LearningConstants,
    NonFiniteInputError,
    RootEligibilityError,
    SatelliteResources,
    SpanningProblem,
    bfs_forest,
    distance_forest,
    evaluate,
    random_forest,
)
from optimization.bound import bound_terms
from optimization.defaults import check_budgets_reachable, fastest_feasible_resources
from optimization.forests import kruskal_forest, tree_degrees, validate_forest


def geometric_problem(n: int, seed: int, radius: float = 0.45, **kw) -> SpanningProblem:
    """Random geometric graph in a 4000 km square with free-space-optics-like rates."""
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2)) * 4000.0
    pairs = np.array(sorted(cKDTree(pts).query_pairs(radius * 4000.0)), dtype=int).reshape(-1, 2)
    d = np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1)
    return SpanningProblem(n, pairs, d, 4e15 / d**2 * rng.uniform(0.5, 2.0, len(d)), **kw)


def undirected(parent: np.ndarray) -> set[tuple[int, int]]:
    kids = np.flatnonzero(parent >= 0)
    return {(min(a, b), max(a, b)) for a, b in zip(kids.tolist(), parent[kids].tolist())}


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"distance_km": [1.0, np.nan]}, NonFiniteInputError, "distance_km[1]"),
        ({"rate_per_watt": [1.0, np.inf]}, NonFiniteInputError, "rate_per_watt[1]"),
        ({"distance_km": [1.0, -2.0]}, InvalidProblemError, "must be > 0"),
        ({"edges": [[0, 1], [1, 1]]}, InvalidProblemError, "self-loop"),
        ({"edges": [[0, 1], [1, 0]]}, InvalidProblemError, "appears twice"),
        ({"edges": [[0, 1], [1, 7]]}, InvalidProblemError, "outside 0..2"),
        ({"edges": [[0, 1, 2]]}, InvalidProblemError, "shape"),
        ({"num_trees": 0}, InvalidProblemError, "num_trees"),
        ({"model_bits": float("nan")}, NonFiniteInputError, "model_bits"),
        ({"learning": LearningConstants(learning_rate=1.0)}, InvalidProblemError, "step-size condition"),
        ({"root_eligible": [True]}, InvalidProblemError, "root_eligible"),
        ({"resources": SatelliteResources.uniform(3, max_cpu_hz=[1e9, np.nan, 1e9])}, NonFiniteInputError, "max_cpu_hz[1]"),
        ({"resources": SatelliteResources.uniform(3, min_cpu_hz=2e9)}, InvalidProblemError, "exceeds"),
    ],
)
def test_bad_input_raises_specific_error(kwargs, error, words):
    base = {"num_nodes": 3, "edges": [[0, 1], [1, 2]], "distance_km": [1000.0, 1200.0], "rate_per_watt": [1e9, 1e9]}
    with pytest.raises(error, match=pytest.importorskip("re").escape(words)):
        SpanningProblem(**{**base, **kwargs})


def test_edges_are_canonicalised_with_their_arrays():
    p = SpanningProblem(3, [[2, 1], [0, 1]], [5.0, 7.0], [1e9, 2e9])
    assert p.edges.tolist() == [[0, 1], [1, 2]]
    assert p.distance_km.tolist() == [7.0, 5.0] and p.rate_per_watt.tolist() == [2e9, 1e9]


def test_unreachable_budget_names_the_satellite():
    res = SatelliteResources.uniform(3, energy_budget_j=[1.0, 1e-9, 1.0])
    p = SpanningProblem(3, [[0, 1], [1, 2]], [1000.0, 1000.0], [1e9, 1e9], resources=res)
    with pytest.raises(InfeasibleBudgetError, match="satellite 1"):
        check_budgets_reachable(p)


def test_budget_too_small_for_the_links_names_the_satellite():
    res = SatelliteResources.uniform(3, energy_budget_j=[10.0, 1e-4, 10.0])  # compute fits, model transfers do not
    p = SpanningProblem(3, [[0, 1], [1, 2]], [1000.0, 1000.0], [1e6, 1e6], resources=res)
    with pytest.raises(InfeasibleBudgetError, match="satellite 1.*model transfers"):
        fastest_feasible_resources(p, distance_forest(p))


# ---------------------------------------------------------------- forests
@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 40), seed=st.integers(0, 10_000))
def test_distance_forest_is_networkx_mst(n, seed):
    p = geometric_problem(n, seed, resources=SatelliteResources.uniform(n, terminals=n))
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from((a, b, w) for (a, b), w in zip(p.edges.tolist(), p.distance_km))
    comps = nx.number_connected_components(g)
    parent = distance_forest(p, comps)
    validate_forest(p, parent)
    assert undirected(parent) == {tuple(sorted(e)) for e in nx.minimum_spanning_tree(g).edges()}
    assert (parent < 0).sum() == comps


@settings(max_examples=20, deadline=None)
@given(n=st.integers(4, 30), seed=st.integers(0, 10_000), extra=st.integers(1, 3))
def test_k_forest_drops_heaviest_mst_edges_and_roots_are_eligible(n, seed, extra):
    p0 = geometric_problem(n, seed, radius=0.8, resources=SatelliteResources.uniform(n, terminals=n))
    g = nx.Graph()
    g.add_weighted_edges_from((a, b, w) for (a, b), w in zip(p0.edges.tolist(), p0.distance_km))
    comps = nx.number_connected_components(g) + (n - g.number_of_nodes())
    k = min(n, comps + extra)
    parent = distance_forest(p0, k)
    assert (parent < 0).sum() == k
    mst_w = sorted(d["weight"] for *_, d in nx.minimum_spanning_tree(g).edges(data=True))
    chosen = undirected(parent)
    weight = {tuple(e): w for e, w in zip(p0.edges.tolist(), p0.distance_km)}
    assert sum(weight[e] for e in chosen) == pytest.approx(sum(mst_w[: n - k]))
    eligible = np.random.default_rng(seed).random(n) < 0.5
    eligible[0] = True
    p1 = SpanningProblem(n, p0.edges, p0.distance_km, p0.rate_per_watt, root_eligible=eligible,
                         resources=SatelliteResources.uniform(n, terminals=n))
    try:
        parent = distance_forest(p1, comps)
    except RootEligibilityError:
        return  # some component has no eligible satellite: the specific error is the contract
    assert eligible[parent < 0].all()


@settings(max_examples=20, deadline=None)
@given(n=st.integers(5, 40), seed=st.integers(0, 10_000), cap=st.integers(2, 3))
def test_degree_limits_hold_for_every_builder(n, seed, cap):
    p = geometric_problem(n, seed, radius=0.6, resources=SatelliteResources.uniform(n, terminals=cap), num_trees="auto")
    k = int(nx.number_connected_components(nx.Graph(p.edges.tolist())) + (n - len(np.unique(p.edges))))
    for build in (distance_forest, bfs_forest, random_forest):
        try:
            parent = build(p, k)
        except DegreeInfeasibleError:
            continue
        validate_forest(p, parent, check_degree=True)
        assert (tree_degrees(parent) <= cap).all() and (parent < 0).sum() == k


def test_disconnected_graph_with_too_few_trees_names_the_isolated_satellite():
    p = SpanningProblem(4, [[0, 1], [1, 2]], [1.0, 1.0], [1e9, 1e9])
    with pytest.raises(DisconnectedGraphError, match="2 connected components.*satellite 3 has no candidate edge"):
        distance_forest(p, 1)
    assert (distance_forest(p, 2) < 0).sum() == 2


def test_validate_forest_rejects_cycles_and_non_edges():
    p = SpanningProblem(3, [[0, 1], [1, 2], [0, 2]], [1.0, 1.0, 1.0], [1e9] * 3)
    with pytest.raises(InvalidForestError, match="cycle"):
        validate_forest(p, np.array([1, 2, 0]))
    q = SpanningProblem(3, [[0, 1], [1, 2]], [1.0, 1.0], [1e9] * 2)
    with pytest.raises(InvalidForestError, match="not a candidate edge"):
        validate_forest(q, np.array([-1, 0, 0]))


# ---------------------------------------------------------------- cost model
def _critical_path(p: SpanningProblem, parent, f, pw, e, b) -> tuple[float, float]:
    """Independent reference: a networkx DAG of events, longest path; energy by an explicit loop."""
    res = p.resources
    g = nx.DiGraph()
    energy = 0.0
    for n in range(p.num_nodes):
        work = e[n] * b[n] * res.cycles_per_sample[n]
        g.add_edge(("start", n), ("up", n), w=work / f[n])
        energy += 0.5 * res.capacitance[n] * work * f[n] ** 2
        if parent[n] < 0:
            g.add_edge(("up", n), ("down", n), w=0.0)
        g.add_edge(("down", n), "end", w=0.0)
    weight = {tuple(e_): i for i, e_ in enumerate(p.edges.tolist())}
    for n in range(p.num_nodes):
        m = int(parent[n])
        if m < 0:
            continue
        i = weight[(min(n, m), max(n, m))]
        for sender, src, dst in ((n, ("up", n), ("up", m)), (m, ("down", m), ("down", n))):
            rate = min(p.rate_per_watt[i] * pw[sender], p.max_rate_bps)
            g.add_edge(src, dst, w=p.model_bits / rate + p.delay_s[i])
            energy += pw[sender] * p.model_bits / rate
    return nx.dag_longest_path_length(g, weight="w"), energy


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 10_000))
def test_latency_and_energy_match_an_event_graph(n, seed):
    rng = np.random.default_rng(seed)
    p = geometric_problem(n, seed, radius=0.9, max_rate_bps=float(rng.uniform(1e8, 1e10)))
    comps = nx.number_connected_components(nx.Graph(p.edges.tolist())) + (n - len(np.unique(p.edges)))
    parent = random_forest(p, comps, seed=seed)
    f = rng.uniform(1e8, 1.5e9, n)
    pw = rng.uniform(0.01, 2.0, n)
    e = rng.integers(1, 10, n).astype(float)
    b = rng.integers(8, 64, n).astype(float)
    costs = evaluate(p, parent, f, pw, e, b)
    latency, energy = _critical_path(p, parent, f, pw, e, b)
    assert costs.latency_s == pytest.approx(latency, rel=1e-12)
    assert costs.energy_j == pytest.approx(energy, rel=1e-12)


def test_warm_start_scores_the_sum_of_weights():
    p = geometric_problem(20, 3, radius=0.9)
    parent = distance_forest(p)
    r = fastest_feasible_resources(p, parent)
    costs = evaluate(p, parent, r.cpu_hz, r.tx_power_w, r.local_steps, r.batch_size)
    assert costs.objective == pytest.approx(3.0)


# ---------------------------------------------------------------- bound
def test_bound_is_monotone_as_the_proof_says():
    lc = LearningConstants()
    d = np.full(5, 1000.0)

    def total(e=4.0, b=16.0, latency=1.0, idle=0.0, k=1, lc=lc):
        return bound_terms(lc, d, np.full(5, e), np.full(5, b), latency, idle, k).total

    assert total(latency=2.0) > total(latency=1.0)  # slower rounds drift more
    assert total(idle=1.0) > total(idle=0.0)  # so does idle time
    assert total(b=32.0) < total(b=16.0)  # bigger batches, less noise
    assert total(k=3) > total(k=1)  # clusters add dissimilarity, nothing at K = 1
    assert bound_terms(lc, d, np.full(5, 4.0), np.full(5, 16.0), 1.0, 0.0, 1).local_drift == pytest.approx(
        16 * (lc.learning_rate * lc.smoothness * 4) ** 2 * lc.dissimilarity)
    noisy = LearningConstants(grad_variance=2.0)
    assert total(lc=noisy) > total()
    full = bound_terms(lc, d, np.full(5, 4.0), d.copy(), 1.0, 0.0, 1)
    assert full.noise == 0.0  # full-batch gradients have no sampling noise
    # more local steps: less gap and drift per unit progress, more client drift
    t1 = bound_terms(lc, d, np.full(5, 2.0), np.full(5, 16.0), 1.0, 0.0, 1)
    t2 = bound_terms(lc, d, np.full(5, 4.0), np.full(5, 16.0), 1.0, 0.0, 1)
    assert t2.gap < t1.gap and t2.drift < t1.drift and t2.local_drift > t1.local_drift
