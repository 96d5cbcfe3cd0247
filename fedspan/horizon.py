"""Plan every round of a horizon without training: the engine of ``fedspan plan``.

Each round happens at ``start + r * round_interval_s`` on the moving constellation; the chosen
policy (Fed-Span by default) plans it exactly as it would inside ``fedspan run``, and the simulated
clock prices it. The result is a ``plan.json`` that a person can read and that
``fedspan run --plan plan.json`` replays.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Callable

import numpy as np

from fedspan.clock import cadence_deadline
from fedspan.errors import FedSpanError
from fedspan.planfile import (  # noqa: F401  (re-exported: the plan format's home is fedspan.planfile)
    PLAN_FORMAT,
    PlanFileError,
    PlannedRound,
    PlanWriter,
    planned_trees,
    read_plan,
    write_plan,
)
from fedspan.scenario import Scenario
from fedspan.strategies import AggregationStrategy, RoundContext, RoundPlan
from fedspan.strategies.isolated import plan_round
from optimization.forests import forest_depths


def plan_context(scenario: Scenario, round_index: int, time_s: float, sample_weight: np.ndarray,
                 window_s: float, local_steps: int, batch_size: int, mix_every: int, seed: int,
                 deadline_s: float | None = None, links_up: np.ndarray | None = None) -> RoundContext:
    """The context a policy sees for a round in which every active satellite is available.

    ``deadline_s``: the round's deadline on a cadence (s), None back to back. ``links_up`` (L, 2): links up after
    the previous round (no acquisition for them; they stay candidates while feasible).
    """
    snapshot = scenario.snapshot(time_s, window_s, links_up)
    return RoundContext.for_round(scenario, round_index, time_s, snapshot, np.asarray(snapshot.active, bool).copy(),
                                  sample_weight, np.zeros(scenario.num_satellites, np.int64), local_steps, batch_size,
                                  mix_every, seed, deadline_s=deadline_s, links_up=links_up)


def plan_horizon(scenario: Scenario, strategy: AggregationStrategy, rounds: int, round_interval_s: float,
                 sample_weight: np.ndarray, local_steps: int = 5, batch_size: int = 32, mix_every: int = 1,
                 window_s: float = 60.0, seed: int = 0,
                 on_round: Callable[[PlannedRound], None] | None = None,
                 schedule: str = "cadence") -> list[PlannedRound]:
    """Plan ``rounds`` rounds spaced ``round_interval_s`` apart; ``on_round`` sees each as it is done.

    ``schedule="cadence"`` gives each round the interval as its deadline (latency up to it is free);
    ``"back-to-back"`` plans each round with its latency priced (the rounds are still placed
    ``round_interval_s`` apart on the orbits, since no training runs to time them).
    """
    planned: list[PlannedRound] = []
    links_up = np.zeros((0, 2), np.int64)  # links up after the previous round: no acquisition for them
    for r in range(rounds):
        time_s = r * round_interval_s
        ctx = plan_context(scenario, r, time_s, sample_weight, window_s, local_steps, batch_size, mix_every, seed,
                           cadence_deadline(schedule, round_interval_s, r, time_s), links_up)
        started = time.perf_counter()
        plan = plan_round(strategy, ctx)
        plan_s = time.perf_counter() - started
        cost = strategy.round_cost(ctx, plan)
        gap_s = round_interval_s - cost.latency_s if schedule == "cadence" else 0.0
        links_up = scenario.links_held(strategy.links_used(ctx, plan), gap_s)
        record = _record(scenario, r, time_s, plan, cost, plan_s)
        planned.append(record)
        if on_round is not None:
            on_round(record)
    return planned


def _record(scenario: Scenario, r: int, time_s: float, plan: RoundPlan, cost: Any, plan_s: float) -> PlannedRound:
    parent = np.where(plan.participating, plan.parent, -1)
    solver = {"plan_time_s": plan_s, **plan.info}
    depth = forest_depths(np.asarray(parent, np.int64))
    if not np.isfinite(depth).all():
        raise FedSpanError("parent array has a cycle")
    return PlannedRound(
        round=r, time_s=time_s, time_utc=(scenario.start + timedelta(seconds=time_s)).isoformat(),
        parent=parent.tolist(), roots=plan.roots.tolist(), participating=plan.participating.tolist(),
        cpu_hz=np.asarray(plan.cpu_hz, float).tolist(), tx_power_w=np.asarray(plan.tx_power_w, float).tolist(),
        local_steps=np.asarray(plan.local_steps, int).tolist(), batch_size=np.asarray(plan.batch_size, int).tolist(),
        idle_s=float(plan.idle_s), latency_s=float(cost.latency_s), energy_j=float(cost.energy_j),
        num_edges=int((parent >= 0).sum()), max_depth=int(depth.max(initial=0)), solver=solver)
