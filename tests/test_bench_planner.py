"""benchmarks/bench_planner.py: its independent references (forest enumeration, reference trees) and a tiny
end-to-end run of the script, so breakage is caught."""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_planner as bp  # noqa: E402
from optimization import SatelliteResources, SpanningProblem  # noqa: E402


def _complete(n: int, terminals: int | None = None, eligible=None, num_trees: int = 1) -> SpanningProblem:
    edges = np.array(list(itertools.combinations(range(n), 2)))
    d = np.linspace(600.0, 3000.0, len(edges))
    return SpanningProblem(num_nodes=n, edges=edges, distance_km=d, rate_per_watt=np.full(len(edges), 1e11),
                           resources=SatelliteResources.uniform(n, terminals=terminals or n), num_trees=num_trees,
                           root_eligible=eligible)


@pytest.mark.parametrize("n,k", [(4, 1), (5, 1), (5, 2), (6, 2), (6, 3)])
def test_enumeration_counts_rooted_forests_of_complete_graphs(n, k):
    # Rooted forests of K_n with k trees: C(n, k) k n^(n-k-1) (Cayley's formula for forests).
    expected = math.comb(n, k) * k * n ** (n - k - 1)
    forests = list(bp.enumerate_forests(_complete(n), k))
    assert len(forests) == expected
    assert len({tuple(f.tolist()) for f in forests}) == expected


@pytest.mark.parametrize("terminals,eligible,k", [(2, None, 1), (2, [True, False, True, False, False], 2),
                                                  (3, [False, True, True, True, False], 1), (1, None, 3)])
def test_enumeration_matches_a_naive_filter_under_degrees_and_root_eligibility(terminals, eligible, k):
    n = 5
    problem = _complete(n, terminals, None if eligible is None else np.array(eligible), k)
    found = {tuple(f.tolist()) for f in bp.enumerate_forests(problem, k)}
    naive = {p for p in itertools.product(range(-1, n), repeat=n)
             if not bp.check_forest(problem, np.array(p), k)}
    assert found == naive


def test_spt_reference_is_a_shortest_path_tree_without_degree_limits():
    problem = bp.random_instance(np.random.default_rng(5), 9, 1, max_forests=10_000)
    problem.resources.terminals[:] = 9
    w = bp.link_time_weights(problem)
    root = int(bp.central_candidates(problem, w, np.arange(9))[0])
    parent = bp.grow_spt(problem, w, [root])
    assert not bp.check_forest(problem, parent, 1)
    exact = dijkstra(bp._csr(problem, w), directed=False, indices=root)
    idx = bp.edge_index(problem)
    along = np.zeros(9)
    for v in bp.tree_order(parent):
        if parent[v] >= 0:
            along[v] = along[parent[v]] + w[idx[(v, int(parent[v]))]]
    assert np.allclose(along, exact)


def test_reference_forests_respect_degrees_roots_and_k():
    for seed, n, k in [(1, 8, 1), (2, 9, 2), (3, 7, 2)]:
        problem = bp.random_instance(np.random.default_rng(seed), n, k, max_forests=400)
        forests = bp.reference_forests(problem, k, spt_select="radius")
        assert "link-time SPT" in forests
        for name, parent in forests.items():
            assert not bp.check_forest(problem, parent, k), name


def test_quick_benchmark_end_to_end(tmp_path, capsys):
    code = bp.main(["--quick", "--instances", "1", "--sizes", "walker:24/4", "--payloads", "1000", "--caps", "100e6", "--spt-roots", "1",
                    "--max-forests", "12",
                    "--workers", "1", "--out", str(tmp_path), "--images", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    goals = [line for line in out.splitlines() if line.startswith("GOAL ")]
    assert goals and all(line.endswith(("MET", "NOT MET")) and "measured" in line and "(target" in line
                         for line in goals)
    data = json.loads((tmp_path / "planner-quick.json").read_text())
    assert len(data["small"]["rows"]) == 1
    assert "walker 24" in data["sizes"] and data["sizes"]["walker 24"]["best_reference"]
    assert len(data["regime"]["cells"]) == 1
    assert (tmp_path / "planner-regime-quick.png").stat().st_size > 0
    names = {g["name"] for g in data["goals"]}
    assert {"small median gap", "small max gap", "small best forest found", "walker 24 objective / best reference"} <= names
