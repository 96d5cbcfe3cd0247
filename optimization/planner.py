"""`solve`: start trees, SCA over the exact CCRs, local search, exact resources; the best forest wins.

Phases (each recorded in the plan's history and named in `SpanningPlan.source`):

1. **start** - the degree-bounded link-time shortest-path tree from the best central root ("spt"), the
   BFS forest ("bfs") and the distance MST ("distance-mst"), each with exact resources
   (:func:`optimization.resources.optimal_resources`).
2. **sca** - up to `whole_up_to` satellites, the signomial program over the CCRs of rooted forests
   (:mod:`optimization.formulation`) solved by SCA; its relaxed arcs are rounded to forests ("sca").
3. **search** - re-parent and re-root moves with resources re-solved (:mod:`optimization.search`) from
   the best forest so far ("search").

The answer is the best forest seen, scored by :func:`optimization.evaluate`, so it is never worse than
any start point.

With a progress model (``problem.progress``) the local steps and batch are chosen for time to accuracy
(:func:`optimization.knobs.choose_knobs`) on the warm-start forest, the phases above plan the forest, clocks
and powers with those knobs pinned, and the choice is checked again on the final forest (re-planned once
if it changes). The bound is still computed and reported as the plan's certificate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from optimization.defaults import Resources, check_budgets_reachable, fastest_feasible_resources
from optimization.errors import OptimizationError, SolverFailedError
from optimization.evaluate import evaluate
from optimization.forests import (
    bfs_forest,
    check_roots_possible,
    component_count,
    distance_forest,
    edge_lookup,
    tree_degrees,
    validate_forest,
)
from optimization.formulation import Arcs, build_program
from optimization.sca_start import fractional_point, initial_point
from optimization.knobs import choose_knobs, pin_knobs, to_target
from optimization.plan import PlanStatus, SpanningPlan
from optimization.problem import SpanningProblem, fixed_tree_count
from optimization.resources import optimal_resources
from optimization.rounding import candidate_forests, edge_costs
from optimization.sca import SCAOptions, run_sca
from optimization.search import SMALL_SEARCH_UP_TO, local_search
from optimization.starts import spt_start
from optimization.solvers import default_chain


@dataclass(frozen=True)
class SolveOptions:
    """Knobs of the planner; the defaults are what the CLI and the benchmarks use."""

    sca: SCAOptions = field(default_factory=SCAOptions)
    backend: Literal["logspace", "gp"] = "logspace"
    solvers: tuple[str, ...] | None = None
    penalty: float = 0.05
    #: The SCA phase runs on problems up to this many satellites (above, its interior-point solves cost
    #: more than the local search gains per second; the search and the exact resources scale linearly).
    whole_up_to: int = 120
    #: Each satellite's this many fastest candidate links (plus the start forest's) enter the SCA's
    #: topology subproblem; None keeps them all.
    nearest_arcs: int | None = 2
    #: Central satellites tried as the root of the link-time shortest-path start tree.
    spt_roots: int = 10
    #: Wall-clock budget of the local search in seconds; None scales with size (1 s + 1 s per 1000
    #: satellites, at most 20 s).
    search_time_s: float | None = None
    #: Run the local search (off: the best start or SCA forest with exact resources).
    search: bool = True
    #: The search restarts from up to this many distinct best forests while its time budget lasts.
    search_starts: int = 4
    on_failure: Literal["fallback", "raise"] = "fallback"
    auto_extra_trees: int = 3
    #: Called with a one-line description as each phase starts (progress for long plans); not compared.
    progress: Callable[[str], None] | None = field(default=None, compare=False)


def _subproblem(program, options: SolveOptions):
    """The convex model backend the options ask for."""
    chain = options.solvers or default_chain()
    if options.backend == "gp":
        from optimization.gp_reference import GPReferenceSubproblem

        return GPReferenceSubproblem(program, chain)
    from optimization.logspace import LogSpaceSubproblem

    return LogSpaceSubproblem(program, chain)


@dataclass
class _Candidate:
    """A forest with exact resources and where it came from."""

    objective: float
    parent: np.ndarray
    resources: Resources
    source: str


def _exact(problem: SpanningProblem, parent: np.ndarray | None, source: str, powers: bool = False) -> _Candidate | None:
    """Exact resources on a degree-feasible forest (power tuning only if `powers`), or None when it is not usable."""
    if parent is None:
        return None
    try:
        validate_forest(problem, parent, check_degree=True)
        res, costs = optimal_resources(problem, parent, powers=powers)
    except OptimizationError:
        return None
    return _Candidate(costs.objective, np.asarray(parent, dtype=np.int64), res, source)


def start_forests(problem: SpanningProblem, k: int, options: SolveOptions) -> dict[str, np.ndarray]:
    """The reference start trees that exist under the terminal limits: SPT, BFS (from the distance
    forest's roots and from the hop centres), distance MST."""
    out: dict[str, np.ndarray] = {}
    builders: dict[str, Callable[[], np.ndarray | None]] = {
        # Each candidate root costs one Python Dijkstra (0.7 s at 50,000 satellites): fewer above 5000.
        "spt": lambda: spt_start(problem, k, options.spt_roots if problem.num_nodes <= 5000 else min(options.spt_roots, 5)),
        "bfs": lambda: bfs_forest(problem, k),
        "bfs-centre": lambda: spt_start(problem, k, 3, hops=True),
        "distance-mst": lambda: distance_forest(problem, k),
    }
    for name, build in builders.items():
        try:
            parent = build()
        except OptimizationError:
            continue
        if parent is not None:
            out[name] = parent
    return out


def choose_num_trees(problem: SpanningProblem, options: SolveOptions) -> int:
    """Fixed K (checked against components and roots), or for 'auto' the K in C..C+extra with the best start.

    For 'auto' each K is scored by its distance forest with exact resources, root-to-root mixing
    included (:func:`optimization.evaluate.mixing_costs`), so extra trees must pay for their exchange.
    """
    fixed = fixed_tree_count(problem.num_trees)
    if fixed is not None:
        check_roots_possible(problem, fixed)
        return fixed
    first = component_count(problem)
    best_k, best = first, np.inf
    for k in range(first, min(first + options.auto_extra_trees, problem.num_nodes) + 1):
        try:
            check_roots_possible(problem, k)
            cand = _exact(problem, distance_forest(problem, k), "distance-mst")
        except OptimizationError:
            continue
        if cand is not None and cand.objective < best - 1e-12:
            best_k, best = k, cand.objective
    return best_k


def sca_forests(problem: SpanningProblem, k: int, start: _Candidate, options: SolveOptions) -> tuple[dict[str, np.ndarray], list[dict]]:
    """SCA over the exact CCRs from a fractional start; forests rounded from its relaxed arcs, and its history.

    The candidate arcs are each satellite's `nearest_arcs` fastest links plus the best start forest's;
    the start resources are that forest's exact ones.
    """
    kids = np.flatnonzero(start.parent >= 0)
    if options.nearest_arcs is None:
        arcs = Arcs.all_of(problem)
    else:
        link_time = edge_costs(problem, start.resources)[1]
        arcs = Arcs.nearest(problem, link_time, options.nearest_arcs, edge_lookup(problem, kids, start.parent[kids]))
    program = build_program(problem, arcs, k, fixed=False, penalty=options.penalty)
    # From a fractional point that favours no forest (the relaxation decides), resources of the best start.
    try:
        z0 = fractional_point(program, start.resources)
    except OptimizationError:
        z0 = initial_point(program, start.parent, start.resources)
    result = run_sca(program, z0, _subproblem(program, options), options.sca)
    x, relaxed = program.decode(result.z)
    forests = candidate_forests(problem, k, relaxed, program.arcs, x)
    history = [{**h, "phase": "sca"} for h in result.history]
    return {f"sca:{name}": parent for name, parent in forests.items()}, history


def _plan(problem: SpanningProblem, best: _Candidate, warm: float, history: list[dict], status: PlanStatus,
          fallback: str | None, timings: dict[str, float], warnings: list[str]) -> SpanningPlan:
    """Package the chosen forest with its exact costs."""
    res = best.resources
    idle = np.full(problem.num_nodes, problem.min_idle_s)
    costs = evaluate(problem, best.parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size, idle)
    return SpanningPlan(
        parent=best.parent.astype(np.int64), roots=np.flatnonzero(best.parent < 0), cpu_hz=res.cpu_hz,
        tx_power_w=res.tx_power_w, local_steps=np.rint(res.local_steps).astype(np.int64),
        batch_size=np.rint(res.batch_size).astype(np.int64), idle_s=idle, latency_s=costs.latency_s,
        energy_j=costs.energy_j, bound=costs.bound, objective=costs.objective, warm_start_objective=warm,
        history=history, status=status, fallback=fallback, timings=timings, source=best.source.split(":")[0],
        warnings=warnings,
    )


def solve(problem: SpanningProblem, options: SolveOptions | None = None) -> SpanningPlan:
    """Plan a spanning forest and resources minimising the weighted objective.

    The result is the best of the start trees, the SCA's rounded forests and the local search, each
    with exact resources, so it is never worse than the link-time shortest-path tree, the BFS forest or
    the distance MST with the same resources. `plan.source` names the phase that produced the forest
    and `plan.history` records every phase; failures of a phase are listed in `plan.warnings`.

    >>> import numpy as np
    >>> from optimization import SpanningProblem, solve
    >>> p = SpanningProblem(4, np.array([[0, 1], [1, 2], [2, 3], [0, 3]]), [900.0, 1200, 800, 1500], [1e10] * 4)
    >>> plan = solve(p)
    >>> plan.num_trees, plan.status
    (1, <PlanStatus.LOCAL_OPTIMUM: 'local_optimum'>)

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations,
       arXiv:2509.24932, 2025.
    .. [2] S. Boyd, S.-J. Kim, L. Vandenberghe and A. Hassibi, "A tutorial on geometric programming",
       Optimization and Engineering 8(1), 67-127, 2007.
    """
    options = options or SolveOptions()
    if problem.progress is not None:
        return _solve_for_time(problem, options)
    return _solve_fixed(problem, options)


def _solve_for_time(problem: SpanningProblem, options: SolveOptions) -> SpanningPlan:
    """Knobs for time to accuracy on the warm-start forest, the plan with them pinned, the choice re-checked
    on the final forest (re-planned once if it changes); the plan with the least to-target objective wins.

    The returned plan's ``objective`` and ``warm_start_objective`` are to-target objectives J
    (:func:`optimization.knobs.to_target`); ``bound`` is the convergence bound of its knobs (the certificate).
    """
    t0 = time.perf_counter()
    model = problem.progress
    warm_parent = _warm_forest(problem)
    choice = choose_knobs(problem, warm_parent)
    tried: list[tuple[float, SpanningPlan]] = []
    seen: set[tuple[int, int]] = set()
    for _ in range(2):
        seen.add(choice.knobs())
        plan = _solve_fixed(pin_knobs(problem, *choice.knobs()), options)
        cost = to_target(problem, model, plan.parent, plan.cpu_hz, plan.tx_power_w, plan.local_steps,
                         plan.batch_size, plan.idle_s)
        again = choose_knobs(problem, plan.parent)
        plan.knobs = {**again.to_dict(), "local_steps": choice.local_steps, "batch_size": choice.batch_size,
                      "rounds_factor": cost.rounds_factor, "energy_j": cost.energy_j, "latency_s": cost.latency_s,
                      "objective": cost.objective, "rechosen": list(again.knobs()), "progress": model.to_dict()}
        plan.history.append({"phase": "knobs", "source": "time-to-accuracy", "objective": cost.objective,
                             "local_steps": choice.local_steps, "batch_size": choice.batch_size,
                             "rechosen": list(again.knobs())})
        tried.append((cost.objective, plan))
        if again.knobs() in seen:
            break
        choice = again
    objective, plan = min(tried, key=lambda jp: jp[0])
    plan.objective = objective
    plan.warm_start_objective = _warm_to_target(problem, warm_parent)
    plan.timings = {**plan.timings, "knobs_total_s": time.perf_counter() - t0}
    return plan


def _warm_forest(problem: SpanningProblem) -> np.ndarray:
    """The forest the knobs are first chosen on: the distance forest, else the BFS forest (K fixed, or the
    component count for "auto")."""
    k = fixed_tree_count(problem.num_trees) or component_count(problem)
    try:
        return distance_forest(problem, k)
    except OptimizationError:
        return bfs_forest(problem, k)


def _warm_to_target(problem: SpanningProblem, parent: np.ndarray) -> float:
    """The to-target objective of the distance forest with default resources (fewest steps, smallest batch)."""
    try:
        d = fastest_feasible_resources(problem, parent)
    except OptimizationError:
        return float("inf")
    return to_target(problem, problem.progress, parent, d.cpu_hz, d.tx_power_w, d.local_steps, d.batch_size).objective


def _sca_phase(problem: SpanningProblem, k: int, best: _Candidate, pool: list[_Candidate], history: list[dict],
               warnings: list[str], options: SolveOptions) -> None:
    """SCA over the CCR program from the best start; every forest it rounds to joins ``pool`` with exact
    resources. A failed solve is a warning (or raised with ``on_failure="raise"``)."""
    try:
        forests, sca_history = sca_forests(problem, k, best, options)
        history.extend(sca_history)
        for name, parent in forests.items():
            c = _exact(problem, parent, name)
            if c is not None:
                history.append({"phase": "sca", "source": name, "objective": c.objective, "accepted": c.objective < best.objective})
                pool.append(c)
    except (SolverFailedError, OptimizationError) as exc:
        if options.on_failure == "raise" and isinstance(exc, SolverFailedError):
            raise
        warnings.append(f"SCA phase failed: {exc}")
        history.append({"phase": "sca", "source": "sca", "objective": float("nan"), "accepted": False,
                        "status": str(exc)})


def _search_phase(problem: SpanningProblem, pool: list[_Candidate], best: _Candidate, history: list[dict],
                  options: SolveOptions, say, t2: float) -> tuple[_Candidate, float]:
    """Local search from the best distinct forests of ``pool`` in turn while its time budget lasts (from ``t2``,
    a perf_counter); the best forest found and the budget (s)."""
    # Measured at 50,000 satellites: past 20 s the restarts from weaker starts never caught up.
    budget = options.search_time_s if options.search_time_s is not None else min(1.0 + problem.num_nodes / 1000.0, 20.0)
    if problem.num_nodes <= SMALL_SEARCH_UP_TO and options.search_time_s is None:
        budget = 30.0  # small problems stop by their step count; this is only a safety net
    # Local optima differ by start: the search runs from the best forests in turn (distinct ones, at
    # most `search_starts`) while its time budget lasts; the first run gets the whole budget.
    seeds, seen = [], set()
    for c in sorted(pool, key=lambda c: c.objective):
        key = c.parent.tobytes()
        if key not in seen:
            seen.add(key)
            seeds.append(c)
    # (Small problems kick themselves out of local optima instead: one start.)
    starts = 1 if problem.num_nodes <= SMALL_SEARCH_UP_TO else options.search_starts
    for i, seed in enumerate(seeds[:starts]):
        if i and time.perf_counter() - t2 >= budget:
            break
        say(f"local search from the {seed.source} forest (budget {budget:.0f} s)")
        found = local_search(problem, seed.parent, seed.resources, seed.objective, deadline=t2 + budget)
        history.extend({**h, "start": seed.source} for h in found.history)
        if found.objective < best.objective * (1 - 1e-12):
            best = _Candidate(found.objective, found.parent, found.resources, "search")
    return best, budget


def _solve_fixed(problem: SpanningProblem, options: SolveOptions) -> SpanningPlan:
    """:func:`solve` with the knobs chosen by the objective (``problem.progress`` is not used)."""
    say = options.progress or (lambda _text: None)
    t0 = time.perf_counter()
    check_budgets_reachable(problem)
    say("start trees" if fixed_tree_count(problem.num_trees) else "choosing the number of trees")
    k = choose_num_trees(problem, options)
    timings: dict[str, float] = {}
    history: list[dict] = []
    warnings: list[str] = []
    starts = start_forests(problem, k, options)
    say(f"exact resources for {len(starts)} start trees")
    warm = np.inf
    if "distance-mst" in starts:
        try:
            d = fastest_feasible_resources(problem, starts["distance-mst"])
            warm = evaluate(problem, starts["distance-mst"], d.cpu_hz, d.tx_power_w, d.local_steps, d.batch_size,
                            problem.min_idle_s).objective
        except OptimizationError:
            pass
    pool = [c for c in (_exact(problem, parent, name) for name, parent in starts.items()) if c is not None]
    for c in pool:
        history.append({"phase": "start", "source": c.source, "objective": c.objective, "accepted": True})
    if not pool:
        from optimization.errors import DegreeInfeasibleError

        raise DegreeInfeasibleError(
            f"no start forest with {k} tree(s) respects the terminal limits and budgets "
            f"(tried {', '.join(['spt', 'bfs', 'distance-mst'])})"
        )
    timings["start_s"] = time.perf_counter() - t0
    best = min(pool, key=lambda c: c.objective)
    status = PlanStatus.LOCAL_OPTIMUM
    if 2 < problem.num_nodes <= options.whole_up_to and problem.num_edges > 0 and k < problem.num_nodes:
        t1 = time.perf_counter()
        say("SCA over the CCR program")
        _sca_phase(problem, k, best, pool, history, warnings, options)
        timings["sca_s"] = time.perf_counter() - t1
        best = min(pool, key=lambda c: c.objective)
    if options.search and problem.num_nodes > 2:
        t2 = time.perf_counter()
        best, budget = _search_phase(problem, pool, best, history, options, say, t2)
        if time.perf_counter() - t2 >= budget:
            status = PlanStatus.TIME_LIMIT
        timings["search_s"] = time.perf_counter() - t2
    # Powers are tuned last (each trial is an exact valuation): on the best forest and the best other one.
    t3 = time.perf_counter()
    say("tuning transmit powers")
    finalists = [best] + sorted((c for c in pool if c.parent.tolist() != best.parent.tolist()),
                                key=lambda c: c.objective)[:1]
    tuned = [t for t in (_exact(problem, c.parent, c.source, powers=True) for c in finalists) if t is not None]
    best = min(tuned + [best], key=lambda c: c.objective)
    timings["powers_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    if not (tree_degrees(best.parent) <= problem.resources.terminals).all():  # pragma: no cover - defensive
        raise OptimizationError("internal error: the chosen forest breaks a terminal limit")
    return _plan(problem, best, warm, history, status, None, timings, warnings)
