"""`optimization.solve` against brute force over every rooted spanning forest of tiny graphs.

Each forest (K = 1 and 2 eligible roots, tree degree <= terminals) is scored with
`optimization.resources.optimal_resources`; the plan must be valid, score exactly `evaluate` of its
own resources, be within 2 % of the brute-force optimum and never worse than the simple reference
trees of `benchmarks/bench_planner.py` (own link-time SPT, BFS and distance MST; the library's
`bfs_forest` / `distance_forest` too) carrying the same exact resources. The enumeration and the
references are independent of the planner's search code.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_planner as bp  # noqa: E402
from optimization import SatelliteResources, SpanningProblem, evaluate, solve  # noqa: E402

KNOWN_SOURCES = {"spt", "bfs", "bfs-centre", "distance-mst", "sca", "search"}

# (seed, satellites, trees): random geometric graphs of bench_planner.random_instance, at most 40 forests each
INSTANCES = [(4, 6, 2), (7, 7, 1), (11, 6, 2), (12, 7, 2)]


def _instance(seed: int, n: int, k: int) -> SpanningProblem:
    return bp.random_instance(np.random.default_rng(seed), n, k, max_forests=40)


def _comm_heavy_ring() -> SpanningProblem:
    """Six satellites on a ring with a chord, two terminals (paths only), 1 Gbit over 100 Mbit/s: 10 s a hop."""
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 5], [0, 3]])
    d = np.array([900.0, 1100, 1000, 950, 1200, 1050, 1900])
    return SpanningProblem(num_nodes=6, edges=edges, distance_km=d, rate_per_watt=bp.laser_rate_per_watt(d, bp.LinkParams()),
                           delay_s=d / bp.SPEED_OF_LIGHT_KM_S, max_rate_bps=100e6, model_bits=1e9,
                           resources=SatelliteResources.uniform(6, terminals=2), num_trees=1)


def _brute(problem: SpanningProblem, k: int) -> tuple[float, np.ndarray, int]:
    objectives, forests = bp.brute_force(problem, k)
    i = int(np.argmin(objectives))
    return objectives[i], forests[i], len(forests)


def _check_against_references(problem: SpanningProblem, k: int) -> None:
    best, best_parent, count = _brute(problem, k)
    plan = solve(problem)
    errors = bp.check_forest(problem, plan.parent, k)
    assert not errors, errors
    costs = evaluate(problem, plan.parent, plan.cpu_hz, plan.tx_power_w, plan.local_steps, plan.batch_size, plan.idle_s)
    assert math.isclose(costs.objective, plan.objective, rel_tol=1e-9), (costs.objective, plan.objective)
    assert costs.within_budgets(problem)
    assert plan.source in KNOWN_SOURCES, plan.source
    gap = plan.objective / best - 1.0
    where = (f"n={problem.num_nodes} K={k} edges={problem.edges.tolist()} S={problem.model_bits:g} "
             f"cap={problem.max_rate_bps:g} terminals={problem.resources.terminals.tolist()} "
             f"eligible={None if problem.root_eligible is None else problem.root_eligible.tolist()}")
    # a plan below the brute force would mean optimal_resources is not optimal on the plan's forest
    assert gap >= -1e-6, f"plan {plan.objective:.6f} beats brute force {best:.6f} over {count} forests: {where}"
    assert gap <= 0.02, (f"plan {plan.objective:.6f} (source {plan.source}, parent {plan.parent.tolist()}) is "
                         f"{100 * gap:.2f} % above the best of {count} forests {best:.6f} (parent "
                         f"{best_parent.tolist()}): {where}")
    for ref in bp.score_references(problem, bp.reference_forests(problem, k)):
        assert plan.objective <= ref.objective * (1 + 1e-6), (
            f"{ref.name} {ref.objective:.6f} (parent {ref.parent.tolist()}) beats the plan {plan.objective:.6f} "
            f"(source {plan.source}, parent {plan.parent.tolist()}): {where}")


@pytest.mark.parametrize("seed,n,k", INSTANCES)
def test_solve_within_two_percent_of_brute_force(seed, n, k):
    _check_against_references(_instance(seed, n, k), k)


def test_solve_communication_heavy_ring():
    _check_against_references(_comm_heavy_ring(), 1)
