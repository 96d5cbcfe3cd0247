"""The run's battery reaches the planner: Fed-Span plans each round within the battery left per round left."""

from __future__ import annotations

import numpy as np

from fedspan.clock import EnergyLedger
from fedspan.simulation import Simulation, SimulationConfig


def _first_round(budget_j: float):
    sim = Simulation(SimulationConfig(strategy="fedspan", rounds=4, energy_budget_j=budget_j,
                                      strategy_options={"sca_iters": 1, "search_time_s": 0.1}))
    state = sim.initial_state()
    seen = {}
    plan_round = sim.strategy.plan_round

    def spy(ctx):
        seen["budget"] = ctx.energy_budget_j
        plan = plan_round(ctx)
        seen["plan"] = plan
        return plan

    sim.strategy.plan_round = spy
    metrics = sim.step(state, EnergyLedger(sim.num_satellites))
    return sim, seen, metrics


def test_no_battery_means_no_planner_budget():
    _, seen, _ = _first_round(float("inf"))
    assert seen["budget"] is None


def test_battery_is_paced_over_the_rounds_and_binds_the_plan():
    free_sim, free, _ = _first_round(float("inf"))
    free_energy = free["plan"].info["predicted_energy_j"] / free_sim.num_satellites
    battery = 0.5 * free_energy * 4  # half of what an unconstrained round spends, paced over 4 rounds
    sim, seen, _ = _first_round(battery)
    assert np.allclose(seen["budget"], battery / 4)
    info = seen["plan"].info
    assert info["fallback"] is None, info
    assert info["predicted_energy_j"] < free["plan"].info["predicted_energy_j"]
    node_energy = info["predicted_energy_j"] / sim.num_satellites
    assert node_energy <= battery / 4 * (1 + 1e-6)
