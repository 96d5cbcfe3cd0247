"""The power ledger: exact energy identity, the depth-of-discharge floor, curtailment, shortfall, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbits import Constellation, OrbitsError
from orbits.power import ENERGY_QUANTUM_J, BatteryStep, PowerSystem, round_budget_j, step_battery
from orbits.sun import sunlit_fraction

SIX_U = PowerSystem(array_w=20.0, bus_w=5.0, capacity_j=77 * 3600.0, max_depth_of_discharge=0.2)


@st.composite
def rounds(draw: st.DrawFn) -> tuple:
    """A power system of n satellites, a state of charge on the ledger grid, a round and a spend fraction."""
    n = draw(st.integers(1, 6))
    per_sat = lambda low, high: st.lists(st.floats(low, high), min_size=n, max_size=n)  # noqa: E731
    system = PowerSystem(
        array_w=draw(per_sat(0.0, 5000.0)),
        bus_w=draw(per_sat(0.0, 500.0)),
        capacity_j=draw(per_sat(1.0, 2e7)),
        max_depth_of_discharge=draw(per_sat(0.0, 1.0)),
        charge_efficiency=draw(st.one_of(st.just(1.0), per_sat(0.05, 1.0))),
    )
    share = np.array(draw(per_sat(0.0, 1.0)))
    # Any charge from empty to full, on the grid the ledger keeps (every step_battery result is on it).
    soc = np.round(share * system.capacity_j / ENERGY_QUANTUM_J) * ENERGY_QUANTUM_J
    duration = draw(st.floats(0.0, 20000.0))
    sunlit = np.array(draw(per_sat(0.0, 1.0))) * duration
    spend = np.array(draw(per_sat(0.0, 2.0)))
    return system, soc, sunlit, duration, spend


def assert_identity(old: np.ndarray, step: BatteryStep) -> None:
    assert np.array_equal(step.soc_j - old, step.solar_j - step.bus_j - step.fl_j)


@settings(max_examples=400, deadline=None)
@given(rounds())
def test_energy_identity_is_exact_and_the_floor_holds(case: tuple) -> None:
    system, soc, sunlit, duration, spend = case
    reserve = spend * 1000.0
    budget = round_budget_j(soc, sunlit, duration, system, reserve_j=reserve)
    assert np.all(budget >= 0.0)
    # Spending any share of the budget: exact identity, floor respected whenever the bus alone allows it.
    within = step_battery(soc, sunlit, duration, budget * np.minimum(spend, 1.0), system)
    assert_identity(soc, within)
    no_fl = step_battery(soc, sunlit, duration, 0.0, system)
    target = np.minimum(system.floor_j + np.round(reserve / ENERGY_QUANTUM_J) * ENERGY_QUANTUM_J, system.capacity_j)
    assert np.all(within.soc_j >= np.minimum(target, no_fl.soc_j))
    assert np.all((budget == 0.0) | (within.soc_j >= target))
    assert np.all(within.shortfall_j[budget > 0] == 0.0)
    # Overspending (up to twice the budget plus the whole battery): identity still exact, never below empty.
    over = step_battery(soc, sunlit, duration, spend * (budget + system.capacity_j), system)
    assert_identity(soc, over)
    for step in (within, no_fl, over):
        assert np.all((step.soc_j >= 0.0) & (step.soc_j <= system.capacity_j))
        assert np.all((step.solar_j >= 0.0) & (step.curtailed_j >= 0.0) & (step.shortfall_j >= 0.0))
        # What the array offered is either absorbed or curtailed.
        offered = np.round(system.charge_efficiency * system.array_w * sunlit / ENERGY_QUANTUM_J) * ENERGY_QUANTUM_J
        assert np.array_equal(step.solar_j + step.curtailed_j, np.broadcast_to(offered, soc.shape))
        # Curtailment only with a full battery, shortfall only with an empty one.
        assert np.all((step.curtailed_j == 0.0) | (step.soc_j == system.capacity_j))
        assert np.all((step.shortfall_j == 0.0) | (step.soc_j == 0.0))
    # The budget is the largest spend that keeps the floor: one more quantum crosses it.
    edge = step_battery(soc, sunlit, duration, budget + ENERGY_QUANTUM_J, system)
    crossed = (budget > 0) & (target > 0)
    assert np.all(edge.soc_j[crossed] < target[crossed])


def fly_a_day(reserve_j: float) -> tuple[np.ndarray, np.ndarray]:
    """The code path the simulation runs: sunlit time per 10 min round from orbits.sun, then budget and step.

    FL is greedy: each round it asks for a 40 W job, capped by the budget. Returns the lowest charge of
    each satellite over the day and the mean power FL got (W)."""
    small = Constellation.from_preset("small")
    system = PowerSystem(array_w=20.0, bus_w=5.0, capacity_j=np.full(len(small), 77 * 3600.0), max_depth_of_discharge=0.2)
    soc = system.full_j()
    duration = 600.0
    spent = np.zeros(len(small))
    lowest = soc.copy()
    for round_index in range(144):
        sunlit = sunlit_fraction(small, None, round_index * duration, (round_index + 1) * duration) * duration
        budget = round_budget_j(soc, sunlit, duration, system, reserve_j=reserve_j)
        step = step_battery(soc, sunlit, duration, np.minimum(budget, 40.0 * duration), system)
        assert_identity(soc, step)
        assert np.all(step.shortfall_j == 0.0)
        spent += step.fl_j
        soc = step.soc_j
        lowest = np.minimum(lowest, soc)
    return lowest, spent / 86400.0


def test_a_day_of_rounds_keeps_the_floor_with_an_eclipse_reserve() -> None:
    floor = 0.8 * 77 * 3600.0
    # Keeping the bus's energy for the longest eclipse (5 W x 36 min) holds the floor all day.
    lowest, average_w = fly_a_day(reserve_j=5.0 * 36 * 60)
    assert np.all(lowest >= floor) and lowest.min() < floor + 5.0 * 36 * 60  # and the reserve is used
    # FL gets about the orbit-average surplus: 20 W x sunlit share (63-86 % here) - 5 W, plus the usable charge.
    assert np.all((average_w > 7.0) & (average_w < 13.5)), average_w
    # A greedy budget with no reserve ends sunlit rounds at the floor; the next eclipse's bus load then dips below.
    lowest, _ = fly_a_day(reserve_j=0.0)
    assert lowest.min() < floor


def test_budget_and_step_examples() -> None:
    full = SIX_U.full_j(2)
    assert SIX_U.floor_j[0] == pytest.approx(0.8 * 77 * 3600.0, abs=ENERGY_QUANTUM_J)
    assert round_budget_j(full, [600.0, 0.0], 600.0, SIX_U).tolist() == [64440.0, 52440.0]
    empty = step_battery([0.0, 1000.0], 0.0, 600.0, [10.0, 10.0], SIX_U)
    assert empty.soc_j.tolist() == [0.0, 0.0] and empty.bus_j.tolist() == [0.0, 1000.0]
    assert empty.fl_j.tolist() == [0.0, 0.0] and empty.shortfall_j.tolist() == [3010.0, 2010.0]
    # Half efficiency halves what the array puts in.
    half = PowerSystem(array_w=20.0, bus_w=0.0, capacity_j=1e6, max_depth_of_discharge=0.5, charge_efficiency=0.5)
    assert step_battery(0.0, 100.0, 100.0, 0.0, half).solar_j.tolist() == [1000.0]
    assert len(SIX_U) == 1 and len(half) == 1
    assert SIX_U.full_j(3).tolist() == [277200.0] * 3
    with pytest.raises(OrbitsError, match="count 3 differs from the 2 capacities"):
        PowerSystem(20.0, 5.0, [1e5, 2e5], 0.2).full_j(3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"array_w": [10.0, np.nan]}, "PowerSystem: array_w[1] = nan is not finite"),
        ({"bus_w": -1.0}, "PowerSystem: bus_w = -1.0 must be >= 0"),
        ({"capacity_j": [1.0, 0.0, 2.0]}, "PowerSystem: capacity_j[1] = 0.0 must be > 0"),
        ({"capacity_j": 1e-4}, "below the ledger quantum"),
        ({"max_depth_of_discharge": [0.2, 1.5]}, "PowerSystem: max_depth_of_discharge[1] = 1.5 must be <= 1"),
        ({"charge_efficiency": 0.0}, "PowerSystem: charge_efficiency = 0.0 must be > 0"),
        ({"array_w": "many"}, "PowerSystem: array_w must be numbers"),
        ({"array_w": [[1.0]]}, "scalar or a 1-D array"),
        ({"array_w": [1.0, 2.0], "bus_w": [1.0, 2.0, 3.0]}, "different lengths"),
    ],
)
def test_power_system_validation(kwargs: dict, message: str) -> None:
    fields = {"array_w": 20.0, "bus_w": 5.0, "capacity_j": 1e5, "max_depth_of_discharge": 0.2} | kwargs
    with pytest.raises(OrbitsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PowerSystem(**fields)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: round_budget_j([-1.0], 0.0, 10.0, SIX_U), r"round_budget_j: soc_j\[0\] = -1.0 must be >= 0"),
        (lambda: round_budget_j([1e9], 0.0, 10.0, SIX_U), r"soc_j\[0\] = 1000000000.0 exceeds capacity_j"),
        (lambda: round_budget_j([1.0, 2.0], [0.0, 20.0], 10.0, SIX_U), r"sunlit_s\[1\] = 20.0 exceeds duration_s 10.0"),
        (lambda: round_budget_j(1.0, 0.0, np.inf, SIX_U), "duration_s = inf is not finite"),
        (lambda: round_budget_j(1.0, 0.0, 10.0, "6U"), "system must be a PowerSystem"),
        (lambda: round_budget_j([1.0], 0.0, 10.0, SIX_U, reserve_j=-1.0), "round_budget_j: reserve_j = -1.0 must be >= 0"),
        (lambda: round_budget_j([1.0, 2.0], 0.0, 10.0, SIX_U, reserve_j=[1.0, 2.0, 3.0]), "reserve_j has shape"),
        (lambda: step_battery([1.0, 2.0], 0.0, 10.0, [1.0, 2.0, 3.0], SIX_U), "fl_spend_j has shape"),
        (lambda: step_battery([1.0], 0.0, 10.0, -5.0, SIX_U), "step_battery: fl_spend_j = -5.0 must be >= 0"),
        (lambda: step_battery(np.ones(3), 0.0, 10.0, 0.0, PowerSystem([1.0, 2.0], 1.0, 1e5, 0.2)), "describes 2 satellite"),
    ],
)
def test_round_validation(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(OrbitsError, match=message):
        call()


def test_charge_a_quantum_above_an_unrounded_capacity_is_full() -> None:
    system = PowerSystem(array_w=0.0, bus_w=0.0, capacity_j=1e5 / 3, max_depth_of_discharge=0.3)
    assert system.capacity_j < 1e5 / 3 and system.capacity_j % ENERGY_QUANTUM_J == 0
    step = step_battery(1e5 / 3, 0.0, 1.0, 0.0, system)
    assert step.soc_j.tolist() == [float(system.capacity_j)]
