"""The planner end to end: SCA guarantees, exact MST in the energy-only case, robustness and fallbacks."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sca_recording import assert_feasible_and_monotone, recorded_sca
from test_opt_model import _critical_path, geometric_problem, undirected

from optimization import (
    DisconnectedGraphError,
    InfeasibleBudgetError,
    ObjectiveWeights,
    SatelliteResources,
    SCAOptions,
    SolveOptions,
    SpanningPlan,
    SpanningProblem,
    SolverFailedError,
    distance_forest,
    evaluate,
    solve,
)
from optimization.defaults import fastest_feasible_resources
from optimization.formulation import Arcs, build_program
from optimization.sca_start import initial_point
from optimization.forests import tree_degrees, validate_forest

FAST = SolveOptions(sca=SCAOptions(max_iters=4))


def _check_plan(problem: SpanningProblem, plan: SpanningPlan) -> None:
    validate_forest(problem, plan.parent, check_degree=True)
    costs = evaluate(problem, plan.parent, plan.cpu_hz, plan.tx_power_w, plan.local_steps, plan.batch_size, plan.idle_s)
    assert plan.objective == pytest.approx(costs.objective, rel=1e-12)
    assert plan.objective <= plan.warm_start_objective * (1 + 1e-12)
    assert costs.within_budgets(problem)


def test_sca_iterates_are_feasible_and_monotone():
    p = geometric_problem(14, 7, radius=0.5)
    parent = distance_forest(p)
    program = build_program(p, Arcs.all_of(p), 1, fixed=False)
    z0 = initial_point(program, parent, fastest_feasible_resources(p, parent))
    result, seen = recorded_sca(program, z0)
    assert_feasible_and_monotone(program, z0, result, seen)


def test_plan_beats_warm_start_and_reports_true_costs():
    p = geometric_problem(16, 11, radius=0.5)
    plan = solve(p, FAST)
    _check_plan(p, plan)
    assert plan.objective < plan.warm_start_objective
    latency, energy = _critical_path(p, plan.parent, plan.cpu_hz, plan.tx_power_w, plan.local_steps, plan.batch_size)
    assert plan.latency_s == pytest.approx(latency, rel=1e-12)
    assert plan.energy_j == pytest.approx(energy, rel=1e-12)
    again = SpanningPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(plan.to_dict(), sort_keys=True)
    assert again.parent.dtype == np.int64 and np.array_equal(again.cpu_hz, plan.cpu_hz)


@settings(max_examples=6, deadline=None)
@given(n=st.integers(5, 12), seed=st.integers(0, 10_000))
def test_energy_only_one_tree_is_networkx_mst(n, seed):
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2)) * 3000.0
    pairs = np.array([(a, b) for a in range(n) for b in range(a + 1, n)])
    d = np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1) + 1.0
    rpw = rng.uniform(1e7, 1e9, len(pairs))  # unrelated to distance: the energy MST differs from the distance MST
    p = SpanningProblem(n, pairs, d, rpw, max_rate_bps=1e12, weights=ObjectiveWeights(0.0, 1.0, 0.0),
                        resources=SatelliteResources.uniform(n, terminals=n))
    plan = solve(p, FAST)
    assert plan.fallback is None
    g = nx.Graph()
    g.add_weighted_edges_from((a, b, 2 * p.model_bits / r) for (a, b), r in zip(pairs.tolist(), rpw))
    assert undirected(plan.parent) == {tuple(sorted(e)) for e in nx.minimum_spanning_tree(g).edges()}
    _check_plan(p, plan)


def test_binding_degree_limit_is_respected_and_never_worse_than_warm_start():
    p = geometric_problem(14, 5, radius=0.9, resources=SatelliteResources.uniform(14, terminals=2))
    assert (tree_degrees(distance_forest(p, 1)) == 2).any()
    plan = solve(p, FAST)
    _check_plan(p, plan)
    assert (tree_degrees(plan.parent) <= 2).all()


def test_auto_trees_cover_components_and_fixed_too_few_is_an_error():
    a = geometric_problem(8, 1, radius=0.9)
    b = geometric_problem(6, 2, radius=0.9)
    edges = np.r_[a.edges, b.edges + 8]
    kw = dict(distance_km=np.r_[a.distance_km, b.distance_km], rate_per_watt=np.r_[a.rate_per_watt, b.rate_per_watt])
    auto = SpanningProblem(15, edges, num_trees="auto", **kw)  # satellite 14 has no candidate edge
    plan = solve(auto, FAST)
    _check_plan(auto, plan)
    assert plan.num_trees >= 3 and plan.parent[14] == -1
    with pytest.raises(DisconnectedGraphError, match="3 connected components.*satellite 14"):
        solve(SpanningProblem(15, edges, num_trees=2, **kw), FAST)


def test_root_eligibility_is_respected():
    eligible = np.zeros(12, bool)
    eligible[[3, 9]] = True
    p = geometric_problem(12, 4, radius=0.9, root_eligible=eligible, num_trees=2)
    plan = solve(p, FAST)
    _check_plan(p, plan)
    assert set(plan.roots.tolist()) <= {3, 9} and plan.num_trees == 2


def test_budgets_bind_and_unreachable_budget_is_specific():
    p = geometric_problem(10, 6, radius=0.9)
    free = solve(p, FAST)
    budget = np.full(10, 0.6 * free.energy_j / 10)
    q = geometric_problem(10, 6, radius=0.9, resources=SatelliteResources.uniform(10, energy_budget_j=budget))
    plan = solve(q, FAST)
    _check_plan(q, plan)
    assert plan.energy_j < free.energy_j and plan.fallback is None
    tiny = geometric_problem(10, 6, radius=0.9, resources=SatelliteResources.uniform(10, energy_budget_j=1e-9))
    with pytest.raises(InfeasibleBudgetError, match="satellite 0: energy budget 1e-09 J"):
        solve(tiny, FAST)


def test_solver_failure_is_reported_and_the_other_phases_still_plan():
    p = geometric_problem(8, 3, radius=0.9)
    plan = solve(p, SolveOptions(solvers=("OSQP",)))  # OSQP cannot take exponential cones
    assert any("SCA phase failed" in w and "OSQP" in w for w in plan.warnings)
    assert plan.source in ("spt", "bfs", "bfs-centre", "distance-mst", "search")
    _check_plan(p, plan)
    with pytest.raises(SolverFailedError, match="every solver failed"):
        solve(p, SolveOptions(solvers=("OSQP",), on_failure="raise"))


def test_large_problems_skip_the_sca_and_still_search():
    p = geometric_problem(40, 9, radius=0.35)
    plan = solve(p, SolveOptions(whole_up_to=15))
    _check_plan(p, plan)
    assert not any(h.get("phase") == "sca" for h in plan.history)
    assert any(h.get("phase") == "search" for h in plan.history)
    assert plan.num_trees == 1
