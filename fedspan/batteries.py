"""The run's batteries between rounds: what each can give a round, and the round settled on them.

Sun and shadow come from :func:`orbits.sun.sunlit_fraction` (Earth's conical shadow), the energy ledger from
:mod:`orbits.power` (charge from the array in sunlight, the bus all the time, federated learning's spend, the
depth-of-discharge floor); the charge of every satellite lives in the run's checkpoint (``state.extra["soc_j"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from orbits.power import below_floor, round_budget_j, step_battery
from orbits.sun import sunlit_fraction

#: Energy kept back at the end of a round for the bus through the longest eclipse ahead (s of bus load):
#: at 550 km an eclipse lasts at most ~36 min (docs/physical-model.md).
ECLIPSE_RESERVE_S = 36 * 60.0


@dataclass(frozen=True)
class RoundSunlight:
    """A round's power outlook: how long the battery must carry it (s) and each satellite's sunlit seconds."""

    length_s: float
    sunlit_s: np.ndarray


class Batteries:
    """The batteries of a run's satellites (``scenario.power``; without one every method is a no-op).

    ``schedule`` and ``round_interval_s`` are the run's: on a cadence the battery carries a round for the whole
    interval, back to back for the last round's latency (at least 1 s).
    """

    def __init__(self, scenario: Any, schedule: str, round_interval_s: float) -> None:
        self.scenario = scenario
        self.schedule = schedule
        self.round_interval_s = float(round_interval_s)
        self.num_satellites = int(scenario.num_satellites)
        #: The outlook of the round being planned, fixed by :meth:`budget` and settled by :meth:`settle`.
        self.sunlight: RoundSunlight | None = None

    def round_length_s(self, state: Any) -> float:
        """How long the battery must carry this round: the cadence interval, or back to back the last latency."""
        if self.schedule == "cadence":
            return self.round_interval_s
        return max(float(state.last_latency_s), 1.0)

    def charge_j(self, state: Any) -> np.ndarray:
        """Every satellite's battery charge (J), full at the start of a run."""
        if "soc_j" not in state.extra:
            state.extra["soc_j"] = self.scenario.power.full_j(self.num_satellites).tolist()
        return np.asarray(state.extra["soc_j"], float)

    def budget(self, state: Any, time_s: float) -> np.ndarray | None:
        """What each battery can give federated learning this round without ending it below its floor (J).

        Also fixes the round's power outlook (:attr:`sunlight`: the round's length and each satellite's sunlit
        seconds in it) that :meth:`settle` settles the round with. None without batteries.
        """
        power = self.scenario.power
        if power is None:
            return None
        length = self.round_length_s(state)
        lit = sunlit_fraction(self.scenario.constellation, self.scenario.start, time_s, time_s + length)
        self.sunlight = RoundSunlight(length, np.nan_to_num(lit, nan=0.0) * length)
        bus = np.broadcast_to(np.asarray(power.bus_w, float), (self.num_satellites,))
        return round_budget_j(self.charge_j(state), self.sunlight.sunlit_s, length, power,
                              reserve_j=bus * ECLIPSE_RESERVE_S)

    def settle(self, state: Any, spent_j: np.ndarray) -> tuple[float, float, int]:
        """Charge, bus load and this round's spend (J per satellite) applied to every battery: the lowest and mean
        state of charge (fractions of capacity) and how many batteries ended below their depth-of-discharge floor
        (NaN, NaN, 0 without batteries)."""
        power = self.scenario.power
        if power is None:
            return float("nan"), float("nan"), 0
        step = step_battery(self.charge_j(state), self.sunlight.sunlit_s, self.sunlight.length_s, spent_j, power)
        state.extra["soc_j"] = np.asarray(step.soc_j, float).tolist()
        capacity = np.broadcast_to(np.asarray(power.capacity_j, float), (self.num_satellites,))
        fraction = np.asarray(step.soc_j, float) / capacity
        return float(np.min(fraction)), float(np.mean(fraction)), below_floor(step.soc_j, power)
