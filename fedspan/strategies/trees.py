"""Forest policies: Fed-Span (the optimizer's plan) and the reference trees it is compared to."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from optimization import OptimizationError
from optimization.problem import TreeCount, fixed_tree_count, parse_tree_count
from optimization.forests import bfs_forest, component_count, distance_forest, random_forest

from fedspan.aggregation import should_mix
from fedspan.strategies.base import AggregationStrategy, RoundContext, RoundPlan, StrategyError, default_resources
from fedspan.strategies.forests import assign_model_ids, lift_forest
from fedspan.strategies.power import POWER_MODES, check_power, forest_power, resource_overrides  # noqa: F401  (POWER_MODES re-exported)
from fedspan.strategies.registry import register_strategy


class ForestStrategy(AggregationStrategy):
    """A policy that spans the available satellites with ``num_trees`` trees every round.

    Baselines take ``power`` (:data:`POWER_MODES`), so every method can run with the same power management.
    """

    takes_num_trees = True

    def __init__(self, num_trees: TreeCount = 1, mix_every: int | None = None, power: str = "default") -> None:
        try:
            self.num_trees: TreeCount = parse_tree_count(num_trees)
        except ValueError as exc:
            raise StrategyError(f"strategy '{self.name}': num_trees: {exc}") from None
        self.mix_every = mix_every
        self.power = check_power(self.name, power)

    def managed(self, ctx: RoundContext, problem: Any, parent: np.ndarray) -> dict[str, Any]:
        """Resource overrides of the policy's power management on its own forest (empty for "default")."""
        return forest_power(ctx, problem, parent, self.power)

    @property
    def chooses_knobs(self) -> bool:
        """Exact power management chooses steps and batch (the planner's knob rule); the others train the run's."""
        return self.power == "exact"

    def num_models(self, scenario: Any) -> int:
        """One model per tree; with ``num_trees='auto'`` one global model (trees merge every round).

        Checked here, before any of the ``(num_models, P)`` models is allocated: more trees than
        satellites cannot be planned, and a million of them would not fit in memory.
        """
        k = fixed_tree_count(self.num_trees) or 1
        n = scenario.num_satellites
        if k > n:
            raise StrategyError(f"num_trees = {k} is more than the {n} satellites of the constellation "
                                f"(choose 1 .. {n}, or auto)")
        return k

    def sub_forest(self, ctx: RoundContext, problem: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Parent array over the problem's nodes, plus resource overrides (subclasses)."""
        raise NotImplementedError

    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """Build the round's SpanningProblem over the available satellites and span it."""
        n = len(ctx.available)
        problem, nodes = ctx.scenario.problem(ctx.snapshot, ctx.available, ctx.sample_weight, self.num_trees,
                                              energy_budget_j=ctx.energy_budget_j, deadline_s=ctx.deadline_s,
                                              links_up=ctx.links_up)
        pieces = component_count(problem)
        if pieces > (fixed_tree_count(self.num_trees) or pieces):
            # Satellites that lost every link (or a split graph) need their own trees this round;
            # the extra trees share model ids and merge by root-to-root exchange where reachable.
            problem = replace(problem, num_trees=pieces)
        sub_parent, overrides = self.sub_forest(ctx, problem)
        if not overrides and self.power != "default":
            overrides = self.managed(ctx, problem, np.asarray(sub_parent))
        parent = lift_forest(sub_parent, nodes, n)
        participating = np.zeros(n, bool)
        participating[nodes] = True
        resources = default_resources(ctx)
        info = overrides.pop("info", {})
        idle_s = float(overrides.pop("idle_s", 0.0))
        for key, values in overrides.items():
            resources[key][nodes] = values
        mix_every = ctx.mix_every if self.mix_every is None else self.mix_every
        num_models = self.num_models(ctx.scenario)
        tree_of = assign_model_ids(parent, participating, ctx.holder, num_models)
        return RoundPlan(parent=parent, tree_of=tree_of, participating=participating, idle_s=idle_s,
                         mix=num_models > 1 and should_mix(ctx.round_index, mix_every),
                         info=info, **resources)


@register_strategy("fedspan")
class FedSpan(ForestStrategy):
    """The optimizer's forest and resources (``optimization.solve``); distance-MSF if it fails."""

    #: Ablation switches (benchmarks): which forest to use and which resources to keep.
    TOPOLOGIES = ("planned", "bfs")
    RESOURCES = ("planned", "default")

    def __init__(self, num_trees: TreeCount = 1, mix_every: int | None = None, sca_iters: int | None = None,
                 search_time_s: float | None = None, topology: str = "planned", resources: str = "planned") -> None:
        super().__init__(num_trees, mix_every)  # its own resources: the planner's
        if sca_iters is not None and int(sca_iters) < 1:
            raise StrategyError(f"strategy 'fedspan': sca_iters must be >= 1, got {sca_iters}")
        if search_time_s is not None and not float(search_time_s) >= 0:
            raise StrategyError(f"strategy 'fedspan': search_time_s must be >= 0, got {search_time_s}")
        if topology not in self.TOPOLOGIES:
            raise StrategyError(f"strategy 'fedspan': topology must be one of {', '.join(self.TOPOLOGIES)}, got {topology!r}")
        if resources not in self.RESOURCES:
            raise StrategyError(f"strategy 'fedspan': resources must be one of {', '.join(self.RESOURCES)}, got {resources!r}")
        #: "bfs": the breadth-first forest with the optimizer's exact resources on it (ablation of the topology).
        self.topology = topology
        #: "default": the planned forest with the run's default clocks, powers, steps and batch (ablation of resources).
        self.resources = resources
        self.sca_iters = sca_iters
        self.search_time_s = None if search_time_s is None else float(search_time_s)
        #: Told the planner's phase as it goes (the CLI shows it beside the round being planned).
        self.progress: Any = None

    @property
    def chooses_knobs(self) -> bool:
        """The planner chooses steps and batch (its default resources ablation trains the run's)."""
        return self.resources == "planned"

    def solve_options(self) -> Any:
        """The planner's defaults plus explicit options."""
        from optimization.planner import SolveOptions
        from optimization.sca import SCAOptions

        options = SolveOptions()
        if self.sca_iters is not None:
            options = replace(options, sca=SCAOptions(max_iters=int(self.sca_iters)))
        if self.search_time_s is not None:
            options = replace(options, search_time_s=self.search_time_s)
        if self.progress is not None:
            options = replace(options, progress=self.progress)
        return options

    def sub_forest(self, ctx: RoundContext, problem: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Solve the round's joint problem; keep its resources."""
        from optimization.planner import solve  # heavy (CVXPY); only Fed-Span needs it

        if self.topology == "bfs":
            return self._bfs_with_planned_resources(problem)
        options = self.solve_options()
        try:
            plan = solve(problem, options)
        except OptimizationError as exc:
            # A round must still happen: fall back to the warm start with default resources, flagged.
            return np.asarray(distance_forest(problem)), {"info": {"fallback": str(exc)}}
        if self.resources == "default":
            return np.asarray(plan.parent), {"info": {"status": str(plan.status), "source": plan.source}}
        sca_steps = [h for h in plan.history if h.get("phase") == "sca" and "iteration" in h]
        return np.asarray(plan.parent), {
            **resource_overrides(plan),
            "idle_s": float(np.max(plan.idle_s)) if np.size(plan.idle_s) else 0.0,
            "info": {"status": str(plan.status), "fallback": plan.fallback, "source": plan.source,
                     "warnings": list(plan.warnings), "predicted_latency_s": plan.latency_s,
                     "predicted_energy_j": plan.energy_j, "objective": plan.objective, "bound": plan.bound,
                     "warm_start_objective": plan.warm_start_objective, "sca_iterations": len(sca_steps),
                     "sca_objective": [float(h["objective"]) for h in sca_steps],
                     "phases": [{"phase": str(h.get("phase", "")), "source": str(h.get("source", h.get("start", ""))),
                                 "objective": float(h["objective"])} for h in plan.history if "iteration" not in h],
                     "timings": dict(plan.timings)}}


    def _bfs_with_planned_resources(self, problem: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """The breadth-first forest with the optimizer's exact resources on it (the topology ablation)."""
        from optimization.resources import optimal_resources

        parent = np.asarray(bfs_forest(problem))
        try:
            res, costs = optimal_resources(problem, parent)
        except OptimizationError as exc:
            return parent, {"info": {"fallback": str(exc)}}
        return parent, {**resource_overrides(res),
                        "info": {"objective": costs.objective, "source": "bfs"}}


@register_strategy("mst")
class DistanceMST(ForestStrategy):
    """Plain minimum spanning tree/forest by link distance, default resources."""

    def sub_forest(self, ctx: RoundContext, problem: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """networkx-equivalent distance MSF from the optimization layer's reference topologies."""
        return np.asarray(distance_forest(problem)), {}


@register_strategy("bfs")
class BFSTree(ForestStrategy):
    """Breadth-first (fewest hops) tree/forest, default resources."""

    def sub_forest(self, ctx: RoundContext, problem: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Shortest-hop forest from the optimization layer's reference topologies."""
        return np.asarray(bfs_forest(problem)), {}


@register_strategy("random-tree")
class RandomTree(ForestStrategy):
    """A uniformly random spanning tree/forest of the candidate links, default resources."""

    def sub_forest(self, ctx: RoundContext, problem: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Random forest seeded by the round's generator (reproducible)."""
        return np.asarray(random_forest(problem, seed=int(ctx.rng.integers(2**31)))), {}
