"""`solve`: warm start, SCA (whole or by clusters in parallel), rounding, polishing, best-of, fallback."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from optimization.clustering import cluster_problem, partition_forest
from optimization.defaults import Resources, check_budgets_reachable, default_resources
from optimization.errors import OptimizationError, SolverFailedError
from optimization.evaluate import PlanCosts, evaluate
from optimization.forests import (
    bfs_forest,
    check_roots_possible,
    components,
    distance_forest,
    edge_lookup,
    orient_forest,
    tree_degrees,
    validate_forest,
)
from optimization.formulation import Arcs, build_program, initial_point
from optimization.plan import SpanningPlan
from optimization.problem import SpanningProblem
from optimization.rounding import candidate_forests, edge_costs, fit_to_forest
from optimization.sca import SCAOptions, SCAResult, run_sca
from optimization.solvers import default_chain


@dataclass(frozen=True)
class SolveOptions:
    """Knobs of the planner; the defaults are what the benchmarks use."""

    sca: SCAOptions = field(default_factory=SCAOptions)
    backend: Literal["logspace", "gp"] = "logspace"
    solvers: tuple[str, ...] | None = None
    penalty: float = 0.05
    #: Problems up to this many satellites are optimised whole (with the resources polish).
    whole_up_to: int = 120
    #: Larger ones are cut into clusters of at most this many, planned in parallel and stitched. Measured
    #: at 1584 satellites on 2 cores: clusters of 60 reach 0.64 of the warm start's objective, 120 reach
    #: 0.62 in about the same time, 200 reach 0.60 but SCA sweeps cost 1.7x as much.
    cluster_size: int = 120
    #: Each satellite's this many fastest candidate links (plus the warm forest's) enter the topology
    #: subproblem; None keeps them all. Rounding still sees every candidate, so exact MSTs stay reachable.
    #: Measured on the knn-8 shells: 2 makes the SCA 2-3x faster than all arcs (12x at 66 satellites,
    #: where the whole problem with every arc is badly conditioned) with the same final objective.
    nearest_arcs: int | None = 2
    workers: int | None = None
    polish: bool = True
    on_failure: Literal["fallback", "raise"] = "fallback"
    auto_extra_trees: int = 3


def _subproblem(program, options: SolveOptions):
    """The convex model backend the options ask for."""
    chain = options.solvers or default_chain()
    if options.backend == "gp":
        from optimization.gp_reference import GPReferenceSubproblem

        return GPReferenceSubproblem(program, chain)
    from optimization.logspace import LogSpaceSubproblem

    return LogSpaceSubproblem(program, chain)


def choose_num_trees(problem: SpanningProblem, options: SolveOptions) -> int:
    """Fixed K (checked against components and roots), or for 'auto' the best warm start over K = C..C+extra."""
    if problem.num_trees != "auto":
        check_roots_possible(problem, int(problem.num_trees))
        return int(problem.num_trees)
    first = int(components(problem).max()) + 1
    best_k, best = first, np.inf
    for k in range(first, min(first + options.auto_extra_trees, problem.num_nodes) + 1):
        try:
            check_roots_possible(problem, k)
            parent = distance_forest(problem, k)
            r = default_resources(problem, parent)
        except Exception:  # noqa: BLE001 - a K that cannot be built is simply not a candidate
            continue
        value = evaluate(problem, parent, r.cpu_hz, r.tx_power_w, r.local_steps, r.batch_size, problem.min_idle_s).objective
        if value < best - 1e-12:
            best_k, best = k, value
    return best_k


def topology_arcs(problem: SpanningProblem, parent: np.ndarray, res: Resources, options: SolveOptions) -> Arcs:
    """Candidate arcs of the topology subproblem: every satellite's fastest links plus the warm forest's."""
    if options.nearest_arcs is None:
        return Arcs.all_of(problem)
    # Interior-point time follows the fill-in of the KKT factor, i.e. how tangled the candidate graph is:
    # one 66-satellite subproblem on the whole knn-8 graph takes 1.3 s, on the 2 nearest links 0.1 s.
    kids = np.flatnonzero(parent >= 0)
    link_time = edge_costs(problem, res)[1]
    return Arcs.nearest(problem, link_time, options.nearest_arcs, edge_lookup(problem, kids, parent[kids]))


def optimize_topology(problem: SpanningProblem, k: int, parent: np.ndarray, res: Resources, options: SolveOptions):
    """SCA over topology and resources from an integral forest; returns arcs, relaxed x, resources, SCA result."""
    arcs = topology_arcs(problem, parent, res, options)
    program = build_program(problem, arcs, k, fixed=False, penalty=options.penalty)
    result = run_sca(program, initial_point(program, parent, res), _subproblem(program, options), options.sca)
    x, relaxed = program.decode(result.z)
    return program.arcs, x, relaxed, result


def polish(problem: SpanningProblem, parent: np.ndarray, res: Resources, options: SolveOptions) -> tuple[Resources, SCAResult]:
    """SCA over resources only on a fixed forest (a few well-conditioned GPs)."""
    uplink = validate_forest(problem, parent)
    program = build_program(problem, Arcs.of_forest(parent, uplink), int((parent < 0).sum()), fixed=True)
    sca = replace(options.sca, max_iters=min(options.sca.max_iters, 4))  # resources converge in a few steps
    result = run_sca(program, initial_point(program, parent, res), _subproblem(program, options), sca)
    return program.decode(result.z)[1], result


def _solve_cluster(args: tuple[SpanningProblem, SolveOptions]) -> tuple[np.ndarray, Resources, list[dict]] | None:
    """Worker: plan one cluster as a one-tree problem (never clustered again); None if it cannot be planned."""
    sub, options = args
    try:
        plan = solve(sub, replace(options, whole_up_to=10**9, polish=False))
    except OptimizationError:  # e.g. terminals reserved for stitching leave the cluster split: keep its warm subtree
        return None
    res = Resources(plan.cpu_hz, plan.tx_power_w, plan.local_steps.astype(float), plan.batch_size.astype(float))
    return plan.parent, res, plan.history


def optimize_by_clusters(problem: SpanningProblem, parent: np.ndarray, options: SolveOptions):
    """Cut the warm forest into clusters, plan each in parallel, stitch with the warm forest's cut edges."""
    labels = partition_forest(parent, max(options.cluster_size // 2, 2))
    kids = np.flatnonzero(parent >= 0)
    cut = kids[labels[kids] != labels[parent[kids]]]
    reserved = np.bincount(np.r_[cut, parent[cut]], minlength=problem.num_nodes)
    groups = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
    jobs = [(cluster_problem(problem, g, reserved), options) for g in groups if len(g) > 2]
    workers = options.workers or min(len(jobs), os.cpu_count() or 1)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            outs = list(pool.map(_solve_cluster, jobs))
    else:
        outs = [_solve_cluster(j) for j in jobs]
    res = default_resources(problem, parent)
    tree_edges = [np.stack([cut, parent[cut]], 1)]
    small = [g for g in groups if len(g) <= 2]
    planned = [g for g in groups if len(g) > 2]
    for g in small + [g for g, out in zip(planned, outs) if out is None]:
        inner = g[(parent[g] >= 0) & (labels[np.maximum(parent[g], 0)] == labels[g])]
        tree_edges.append(np.stack([inner, parent[inner]], 1))
    history: list[dict] = []
    for g, out in zip(planned, outs):
        if out is None:
            history.append({"objective": float("nan"), "accepted": False, "status": "cluster kept its warm subtree",
                            "solver": "", "seconds": 0.0, "cluster_size": len(g)})
            continue
        sub_parent, sub_res, sub_hist = out
        inner = np.flatnonzero(sub_parent >= 0)
        tree_edges.append(np.stack([g[inner], g[sub_parent[inner]]], 1))
        for name in ("cpu_hz", "tx_power_w", "local_steps", "batch_size"):
            getattr(res, name)[g] = getattr(sub_res, name)
        history.extend({**h, "cluster_size": len(g)} for h in sub_hist)
    edges = np.sort(np.concatenate(tree_edges), axis=1)
    _, time_ = edge_costs(problem, res)
    ids = edge_lookup(problem, edges[:, 0], edges[:, 1])
    stitched = orient_forest(problem.num_nodes, edges, time_[ids], problem.root_eligible)
    return stitched, res, history


def _plan(problem, parent, res: Resources, costs: PlanCosts, warm: float, history, status, fallback, timings, source) -> SpanningPlan:
    """Package a chosen forest and resources."""
    return SpanningPlan(
        parent=parent.astype(np.int64), roots=np.flatnonzero(parent < 0), cpu_hz=res.cpu_hz, tx_power_w=res.tx_power_w,
        local_steps=np.rint(res.local_steps).astype(np.int64), batch_size=np.rint(res.batch_size).astype(np.int64),
        idle_s=np.full(problem.num_nodes, problem.min_idle_s), latency_s=costs.latency_s, energy_j=costs.energy_j,
        bound=costs.bound, objective=costs.objective, warm_start_objective=warm, history=history, status=status,
        fallback=fallback, timings=timings, source=source,
    )


def solve(problem: SpanningProblem, options: SolveOptions | None = None) -> SpanningPlan:
    """Plan a spanning forest and resources minimising the weighted objective; never worse than the warm start."""
    options = options or SolveOptions()
    t0 = time.perf_counter()
    check_budgets_reachable(problem)
    k = choose_num_trees(problem, options)
    warm_parent = distance_forest(problem, k)
    warm_res = default_resources(problem, warm_parent)
    warm_costs = evaluate(problem, warm_parent, warm_res.cpu_hz, warm_res.tx_power_w, warm_res.local_steps,
                          warm_res.batch_size, problem.min_idle_s)
    timings = {"warm_start_s": time.perf_counter() - t0}
    best = (warm_costs.objective, warm_parent, warm_res, warm_costs, "warm-start")
    history: list[dict] = []
    status = "optimal"
    try:
        t1 = time.perf_counter()
        if problem.num_nodes > options.whole_up_to:
            stitched, res, history = optimize_by_clusters(problem, warm_parent, options)
            forests = {"clusters": stitched, **candidate_forests(problem, k, res)}
        else:
            arcs, x, res, result = optimize_topology(problem, k, warm_parent, warm_res, options)
            history = result.history
            forests = {}
            if problem.num_nodes > 1:
                forests = candidate_forests(problem, k, res, arcs, x)
            status = "converged" if result.converged else "iteration limit"
        try:  # a shallow tree is a strong latency candidate; degree limits may rule it out
            forests["bfs"] = bfs_forest(problem, k)
        except OptimizationError:
            pass
        timings["sca_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        scored = []
        for name, parent in forests.items():
            fitted = fit_to_forest(problem, parent, res)
            if fitted is not None and (tree_degrees(parent) <= problem.resources.terminals).all():
                scored.append((fitted[1].objective, parent, fitted[0], fitted[1], name))
        scored.sort(key=lambda s: s[0])
        timings["rounding_s"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        pool = scored + [best]
        # Clusters already optimised their resources; a global resources-only SCA costs minutes at
        # 1584 satellites (measured: 215 s) and did not win, so it runs only on unclustered problems.
        if options.polish and problem.num_nodes <= options.whole_up_to:
            for _, parent, res_c, _, name in (scored[:1] or [best]) + ([best] if scored else []):
                polished, presult = polish(problem, parent, res_c, options)
                fitted = fit_to_forest(problem, parent, polished)
                if fitted is not None:
                    pool.append((fitted[1].objective, parent, fitted[0], fitted[1], name + "+polish"))
                history = history + [{**h, "phase": f"polish {name}"} for h in presult.history]
        timings["polish_s"] = time.perf_counter() - t3
        best = min(pool, key=lambda s: s[0])
    except SolverFailedError as exc:
        if options.on_failure == "raise":
            raise
        timings["total_s"] = time.perf_counter() - t0
        return _plan(problem, warm_parent, warm_res, warm_costs, warm_costs.objective, history, "solver failed",
                     f"distance forest with default resources: {exc}", timings, "warm-start")
    timings["total_s"] = time.perf_counter() - t0
    value, parent, res, costs, name = best
    return _plan(problem, parent, res, costs, warm_costs.objective, history, status, None, timings, name)
