"""Degree-bounded spanning forests: no false infeasibility, and a precise error where none exists."""

from __future__ import annotations

import itertools
import time

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimization import DegreeInfeasibleError, RootEligibilityError, SatelliteResources, SpanningProblem
from optimization.forests import (
    bfs_forest,
    degree_feasible_forest,
    distance_forest,
    random_forest,
    tree_degrees,
    validate_forest,
)


def _shell_problem(preset: str, terminals: int, num_trees: int, eligible_every: int = 0) -> SpanningProblem:
    """The problem `fedspan plan` builds for a Walker preset at t = 0 (knn-8 candidate links)."""
    from fedspan.scenario import Scenario, ScenarioConfig
    from orbits.links import LinkParams

    sc = Scenario(ScenarioConfig(constellation=preset, link_params=LinkParams(terminals=terminals)), model_bits=1e6)
    n = sc.num_satellites
    problem, _ = sc.problem(sc.snapshot(0.0), np.ones(n, bool), np.full(n, 64.0), num_trees)
    if eligible_every:
        problem.root_eligible = np.arange(n) % eligible_every == 0
    return problem


def _check(problem: SpanningProblem, parent: np.ndarray, num_trees: int) -> None:
    validate_forest(problem, parent, check_degree=True)
    assert (parent < 0).sum() == num_trees
    assert (tree_degrees(parent) <= problem.resources.terminals).all()
    if problem.root_eligible is not None:
        assert problem.root_eligible[parent < 0].all()


@pytest.mark.parametrize("terminals", [2, 3])
@pytest.mark.parametrize("num_trees", [1, 5])
def test_small_shell_plans_with_tight_terminals(terminals: int, num_trees: int) -> None:
    p = _shell_problem("small", terminals, num_trees)
    for parent in (distance_forest(p, num_trees), bfs_forest(p, num_trees), random_forest(p, num_trees, seed=3),
                   degree_feasible_forest(p, num_trees, p.delay_s)):
        _check(p, parent, num_trees)


def test_small_shell_with_root_eligibility_and_two_terminals() -> None:
    p = _shell_problem("small", 2, 5, eligible_every=7)
    for parent in (distance_forest(p, 5), bfs_forest(p, 5), random_forest(p, 5, seed=1)):
        _check(p, parent, 5)


@pytest.mark.parametrize("terminals", [2, 3])
def test_starlink_shell1_plans_with_tight_terminals(terminals: int) -> None:
    p1 = _shell_problem("starlink-shell1", terminals, 1)
    assert p1.num_nodes == 1584
    start = time.perf_counter()
    _check(p1, distance_forest(p1, 1), 1)
    _check(p1, distance_forest(p1, 5), 5)
    _check(p1, random_forest(p1, 1, seed=2), 1)
    assert time.perf_counter() - start < 20.0  # about 1.5 s at 2 terminals on one core


def test_a_star_with_two_terminals_is_reported_as_impossible() -> None:
    # K_{1,4}: the centre must keep 4 links in any single tree; 3 trees are the least possible.
    p = SpanningProblem(5, [[0, 1], [0, 2], [0, 3], [0, 4]], [1.0, 2.0, 3.0, 4.0], [1e9] * 4,
                        resources=SatelliteResources.uniform(5, terminals=2))
    for k in (1, 2):
        with pytest.raises(DegreeInfeasibleError, match=r"satellite 0 is the only link between 4 parts.*2 terminals"
                                                        r".*at least 3 trees"):
            distance_forest(p, k)
    with pytest.raises(DegreeInfeasibleError, match="at least 3 trees"):
        bfs_forest(p, 1)
    _check(p, distance_forest(p, 3), 3)
    _check(p, bfs_forest(p, 4), 4)


def test_degree_sum_bound_is_named() -> None:
    # A path of 4 with 1 terminal each: at most 2 tree edges, so at least 2 trees.
    p = SpanningProblem(4, [[0, 1], [1, 2], [2, 3]], [1.0, 1.0, 1.0], [1e9] * 3,
                        resources=SatelliteResources.uniform(4, terminals=1))
    with pytest.raises(DegreeInfeasibleError, match="usable terminal ends"):
        distance_forest(p, 1)
    _check(p, distance_forest(p, 2), 2)


def test_hamiltonian_path_needs_swaps_the_greedy_cannot_make() -> None:
    # A 6x6 grid torus with 2 terminals: greedy Kruskal on these weights strands pieces; a path exists.
    g = nx.grid_2d_graph(6, 6, periodic=True)
    index = {v: i for i, v in enumerate(sorted(g.nodes))}
    pairs = np.array(sorted(tuple(sorted((index[a], index[b]))) for a, b in g.edges))
    w = np.random.default_rng(0).random(len(pairs))
    p = SpanningProblem(36, pairs, 1.0 + w, [1e9] * len(pairs), resources=SatelliteResources.uniform(36, terminals=2))
    for k in (1, 2, 7):
        _check(p, degree_feasible_forest(p, k, w), k)


def _brute_force_exists(p: SpanningProblem, k: int) -> bool:
    """Is there a forest of k trees with tree degree <= terminals (and eligible roots)? By enumeration."""
    n = p.num_nodes
    cap = p.resources.terminals
    for subset in itertools.combinations(range(p.num_edges), n - k):
        e = p.edges[list(subset)]
        deg = np.bincount(e.ravel(), minlength=n)
        if (deg > cap).any():
            continue
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(e.tolist())
        if not nx.is_forest(g):
            continue
        if p.root_eligible is None or all(p.root_eligible[list(c)].any() for c in nx.connected_components(g)):
            return True
    return False


@settings(max_examples=100, deadline=None)
@given(n=st.integers(3, 7), seed=st.integers(0, 10_000), k=st.integers(1, 3))
def test_no_false_infeasibility_against_brute_force(n: int, seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.55]
    if not pairs:
        return
    k = min(k, n)
    caps = rng.integers(1, 4, n)
    eligible = rng.random(n) < 0.6 if rng.random() < 0.3 else None
    p = SpanningProblem(n, pairs, rng.uniform(1.0, 5.0, len(pairs)), [1e9] * len(pairs),
                        resources=SatelliteResources.uniform(n, terminals=caps), root_eligible=eligible)
    comps = nx.number_connected_components(nx.Graph(pairs)) + (n - len({v for e in pairs for v in e}))
    if comps > k:
        return  # a DisconnectedGraphError case, tested elsewhere
    if eligible is not None:
        g = nx.Graph(pairs)
        g.add_nodes_from(range(n))
        if not all(eligible[list(c)].any() for c in nx.connected_components(g)):
            return  # a RootEligibilityError case
    exists = _brute_force_exists(p, k)
    try:
        parent = degree_feasible_forest(p, k, p.distance_km)
    except (DegreeInfeasibleError, RootEligibilityError) as exc:
        assert not exists, f"false infeasibility: {exc}"
        return
    assert exists
    _check(p, parent, k)


def test_plan_cli_with_two_terminals(tmp_path, capsys) -> None:
    from fedspan.cli import main

    try:
        main(["plan", "--preset", "small", "--terminals", "2", "--rounds", "1", "--strategy-option", "sca_iters=1",
              "--strategy-option", "search_time_s=0.2",
              "-o", str(tmp_path / "plan")])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 0, err
    assert (tmp_path / "plan" / "plan.json").is_file()


def test_hamiltonian_search_covers_a_large_walker_like_graph_quickly() -> None:
    # 60 planes x 50 satellites, knn-8 on the sphere: growth + pocket insertion + steered Pósa rotations.
    from scipy.spatial import cKDTree

    from optimization.forests import _hamiltonian_path

    planes, per = 60, 50
    p_idx, s_idx = np.repeat(np.arange(planes), per), np.tile(np.arange(per), planes)
    raan, u, inc = 2 * np.pi * p_idx / planes, 2 * np.pi * (s_idx / per + p_idx / (planes * per)), np.radians(53)
    pts = np.c_[np.cos(u) * np.cos(raan) - np.sin(u) * np.cos(inc) * np.sin(raan),
                np.cos(u) * np.sin(raan) + np.sin(u) * np.cos(inc) * np.cos(raan), np.sin(u) * np.sin(inc)]
    n = len(pts)
    _, idx = cKDTree(pts).query(pts, 9)
    pairs = np.unique(np.sort(np.c_[np.repeat(np.arange(n), 8), idx[:, 1:].ravel()], axis=1), axis=0)
    dist = np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1) * 6921.0
    p = SpanningProblem(n, pairs, dist, 1e9 / dist**2, resources=SatelliteResources.uniform(n, terminals=2))
    start = time.perf_counter()
    path = _hamiltonian_path(p, np.arange(n), dist, 4, 0)
    assert path is not None and sorted(path) == list(range(n))
    assert set(zip(np.minimum(path[:-1], path[1:]), np.maximum(path[:-1], path[1:]))) <= set(map(tuple, pairs.tolist()))
    assert time.perf_counter() - start < 20.0  # about 0.3 s
    _check(p, distance_forest(p, 3), 3)
