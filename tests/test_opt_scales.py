"""One normalisation for every forest: scales that never fail, ignore K, and do not leak through replace()."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optimization import SatelliteResources, SpanningProblem, evaluate
from optimization.evaluate import mixing_costs, objective_scales


def _star_problem(terminals: int) -> SpanningProblem:
    # A star K_{1,4} plus a path through the leaves: with 2 terminals only the path is a valid tree.
    edges = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4]])
    dist = np.array([500.0, 600, 700, 800, 1500, 1600, 1700])
    return SpanningProblem(5, edges, dist, 4e16 / dist**2,
                           resources=SatelliteResources.uniform(5, terminals=terminals))


def test_scales_do_not_need_a_degree_feasible_kruskal():
    p = _star_problem(terminals=2)
    path = np.array([1, -1, 1, 2, 3])  # 0-1-2-3-4 is a valid tree with 2 terminals
    costs = evaluate(p, path, 1e9, 1.0, 1, 8)
    assert np.isfinite(costs.objective) and costs.objective > 0


def test_scales_are_the_same_for_every_number_of_trees():
    p = _star_problem(terminals=4)
    q = replace(p, num_trees=3)
    assert objective_scales(p) == pytest.approx(objective_scales(q), rel=1e-12)


def test_replace_starts_a_fresh_cache():
    p = _star_problem(terminals=4)
    objective_scales(p)
    q = replace(p, distance_km=p.distance_km * 3, rate_per_watt=p.rate_per_watt / 9, delay_s=None)
    assert "scales" not in q.cache
    assert objective_scales(q)[2] > objective_scales(p)[2]  # longer links: a slower reference round


def test_mixing_is_charged_only_with_several_trees():
    p = _star_problem(terminals=4)
    assert mixing_costs(p, np.array([0])) == (0.0, 0.0)
    lat, energy = mixing_costs(p, np.array([1, 4]))
    # Fastest path 1 -> 0 -> 4 (two short hops), there and back.
    hop = lambda e: p.model_bits / min(p.rate_per_watt[e] * 2.0, p.max_rate_bps) + p.delay_s[e]  # noqa: E731
    assert lat == pytest.approx(2 * (hop(0) + hop(3)), rel=1e-9)
    assert energy == pytest.approx(2 * (p.model_bits / p.rate_per_watt[0] + p.model_bits / p.rate_per_watt[3]), rel=1e-9)
    one = evaluate(p, np.array([-1, 0, 0, 0, 0]), 1e9, 1.0, 1, 8)
    two = evaluate(p, np.array([-1, -1, 0, 0, 0]), 1e9, 1.0, 1, 8)
    assert one.mixing_latency_s == 0.0 and two.mixing_latency_s > 0


@pytest.mark.parametrize("n,edges,k", [(1, [], 1), (3, [], 3), (3, [], "auto"), (4, [[0, 1]], 3)])
def test_problems_without_links_plan_one_tree_per_isolated_satellite(n, edges, k):
    import warnings

    from optimization import solve

    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    p = SpanningProblem(n, e, [1000.0] * len(e), [1e10] * len(e), num_trees=k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warnings on empty arrays either
        plan = solve(p)
    assert plan.num_trees == n - len(e)
    assert np.isfinite(plan.objective)
