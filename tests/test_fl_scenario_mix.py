"""`--mix-every 0` (never mix) reaches the planner as one exchange period over the whole run, not as 1."""

from __future__ import annotations

from fedspan.simulation import SimulationConfig, scenario_for


def test_never_mixing_is_planned_as_a_run_long_period():
    assert scenario_for(SimulationConfig(mix_every=0, rounds=12), 1e6).config.learning.mix_every == 12
    assert scenario_for(SimulationConfig(mix_every=3, rounds=12), 1e6).config.learning.mix_every == 3
