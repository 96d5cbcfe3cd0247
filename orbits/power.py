"""Spacecraft electrical power system: solar array, always-on bus load and a battery with a DoD floor.

Model (per satellite, per round of `duration_s` seconds of which `sunlit_s` are in sunlight, e.g.
``sunlit_fraction * duration_s`` from `orbits.sun`), an **end-of-round energy balance**:

* solar input ``E_sun = charge_efficiency * array_w * sunlit_s``: the array delivers `array_w` in full
  sunlight (a sun-pointing array; a body-mounted one enters through a lower orbit-average `array_w`)
  and, conservatively, all of it is counted as passing the charger;
* the bus takes ``E_bus = bus_w * duration_s`` (housekeeping, always on) and federated learning takes
  what it is granted, ``E_fl``;
* the battery ends the round at ``min(soc + E_sun - E_bus - E_fl, capacity)``: what would overfill
  it is curtailed (the array is throttled); a battery that would go below empty serves the bus
  first and FL with what is left, and the rest is reported as a shortfall;
* the depth-of-discharge floor ``(1 - max_depth_of_discharge) * capacity`` bounds what FL may take:
  ``round_budget_j = max(0, soc + E_sun - E_bus - floor - reserve)``, where the optional reserve keeps
  the bus's energy for the eclipse ahead.

The balance is taken at the end of the round, not along it: within a round the charge can dip below
its end value while the satellite is in eclipse (by at most the load power times the eclipse time,
about 35 min at 550 km), so rounds much shorter than an orbit, or a reserve of that size, keep the
floor meaningful. Energies live on a grid of 2**-10 J (under a millijoule): inputs are rounded
to it and capacities and floors kept on it, so the ledger closes exactly in floating point,
``new - old == solar_j - bus_j - fl_j``.

Sources: the charging/bus/battery figures and the SoC floor rule of FL-on-satellite simulations
follow Östman et al. 2023 [S10] (6U: 20 W charging, 77 Wh; train only above 20 % SoC) and Gómez et al.
2023 (PASEOS) [S11]; scheduling FL into sunlight follows Razmi et al. 2024 [S23]; depth-of-discharge
caps of 20-30 % for multi-year LEO Li-ion follow the SMAD rule of thumb (Wertz, Everett and Puschell,
*Space Mission Engineering: The New SMAD*, 2011, ch. 21) and JAXA's LEO cycle-life tests [S26]. See
``docs/physical-model.md`` and ``/work/shared/design/physical-params.md`` section 2.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbits.errors import OrbitsError

__all__ = ["ENERGY_QUANTUM_J", "BatteryStep", "PowerSystem", "round_budget_j", "step_battery"]

#: The ledger's energy grid, J: sums of multiples of it below 2**43 J are exact in float64.
ENERGY_QUANTUM_J = 2.0**-10
#: Largest energy one term of the ledger may hold (2**40 J, ~300 MWh), so sums of four stay exact.
_MAX_ENERGY_J = 2.0**40


def _nearest(energy_j: NDArray[np.float64]) -> NDArray[np.float64]:
    """Round to the nearest multiple of the energy quantum (exact: scaling by 2**10 is exact)."""
    return np.round(energy_j / ENERGY_QUANTUM_J) * ENERGY_QUANTUM_J


def _as_field(owner: str, name: str, value: ArrayLike, low: float, high: float, low_open: bool = False) -> NDArray:
    """A finite float array (scalar or 1-D) in [low, high] (or (low, high]); one-line error naming the index."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise OrbitsError(f"{owner}: {name} must be numbers, got {repr(value)[:80]}") from None
    if array.ndim > 1:
        raise OrbitsError(f"{owner}: {name} must be a scalar or a 1-D array per satellite, got shape {array.shape}")
    flat = np.atleast_1d(array)
    checks = (
        (~np.isfinite(flat), "is not finite"),
        (flat <= low if low_open else flat < low, f"must be {'>' if low_open else '>='} {low:g}"),
        (flat > high, f"must be <= {high:g}"),
    )
    for bad, rule in checks:
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            where = f"[{index}]" if array.ndim else ""
            raise OrbitsError(f"{owner}: {name}{where} = {float(flat[index])!r} {rule}")
    array = array.copy()
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class PowerSystem:
    """Electrical power system of each satellite (SI units; every field a scalar or an (N,) array).

    Attributes:
        array_w: power the solar array delivers in full sunlight, W (orbit-average generation of a
            3U is 3-18 W, a 6U charges at ~20 W [S10], a broadband satellite has kilowatts).
        bus_w: housekeeping load, always on, W.
        capacity_j: battery capacity, J (Wh x 3600; stored rounded down to `ENERGY_QUANTUM_J`).
        max_depth_of_discharge: fraction of the capacity that may be used, in [0, 1]; the charge must
            stay at or above ``(1 - max_depth_of_discharge) * capacity_j`` (20-30 % for LEO Li-ion, SMAD).
        charge_efficiency: share of the solar input that reaches the battery, in (0, 1].

    Examples
    --------
    >>> six_u = PowerSystem(array_w=20.0, bus_w=5.0, capacity_j=77 * 3600.0, max_depth_of_discharge=0.2)
    >>> float(six_u.floor_j[0]) / 3600  # Wh that must stay in the battery
    61.6
    >>> PowerSystem(array_w=[20.0, -1.0], bus_w=5.0, capacity_j=1e5, max_depth_of_discharge=0.2)
    Traceback (most recent call last):
    ...
    orbits.errors.OrbitsError: PowerSystem: array_w[1] = -1.0 must be >= 0
    """

    array_w: ArrayLike
    bus_w: ArrayLike
    capacity_j: ArrayLike
    max_depth_of_discharge: ArrayLike
    charge_efficiency: ArrayLike = 1.0

    def __post_init__(self) -> None:
        # (low, high, low bound open) of each field; powers and energies stay below the ledger's exact range.
        limits = {
            "array_w": (0.0, _MAX_ENERGY_J, False),
            "bus_w": (0.0, _MAX_ENERGY_J, False),
            "capacity_j": (0.0, _MAX_ENERGY_J, True),
            "max_depth_of_discharge": (0.0, 1.0, False),
            "charge_efficiency": (0.0, 1.0, True),
        }
        fields = {
            name: _as_field("PowerSystem", name, getattr(self, name), low, high, low_open)
            for name, (low, high, low_open) in limits.items()
        }
        # Keep the capacity on the ledger grid (rounded down: never more than the real battery).
        capacity = np.floor(fields["capacity_j"] / ENERGY_QUANTUM_J) * ENERGY_QUANTUM_J
        if np.any(capacity <= 0):
            index = int(np.flatnonzero(np.atleast_1d(capacity) <= 0)[0])
            raise OrbitsError(f"PowerSystem: capacity_j[{index}] is below the ledger quantum {ENERGY_QUANTUM_J} J")
        capacity.setflags(write=False)
        fields["capacity_j"] = capacity
        sizes = {np.size(v) for v in fields.values() if np.ndim(v) == 1}
        if len(sizes) > 1:
            shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in fields.items() if np.ndim(v) == 1)
            raise OrbitsError(f"PowerSystem fields have different lengths: {shapes}")
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        """Satellites described by per-satellite arrays (1 when every field is a scalar)."""
        return max(np.size(getattr(self, f.name)) for f in dataclasses.fields(self))

    @property
    def floor_j(self) -> NDArray[np.float64]:
        """The depth-of-discharge floor ``(1 - dod) * capacity`` (N,) J, on the ledger grid and at most the capacity."""
        floor = _nearest((1.0 - self.max_depth_of_discharge) * self.capacity_j)
        return np.atleast_1d(np.minimum(floor, self.capacity_j))

    def full_j(self, count: int | None = None) -> NDArray[np.float64]:
        """A full battery for each satellite, (N,) J: the usual initial state of charge."""
        size = len(self) if count is None else count
        if np.ndim(self.capacity_j) == 1 and size != np.size(self.capacity_j):
            raise OrbitsError(f"PowerSystem.full_j: count {size} differs from the {np.size(self.capacity_j)} capacities")
        return np.broadcast_to(self.capacity_j, (size,)).astype(np.float64)


@dataclass(frozen=True, eq=False)
class BatteryStep:
    """One round of the power ledger, all (N,) J: ``soc_j - old == solar_j - bus_j - fl_j`` exactly.

    Attributes:
        soc_j: state of charge at the end of the round.
        solar_j: solar energy absorbed (after charge efficiency and curtailment).
        curtailed_j: solar input lost because the battery was full.
        bus_j: energy delivered to the bus.
        fl_j: energy delivered to federated learning.
        shortfall_j: bus and FL demand not served because the battery ran empty (0 normally).
    """

    soc_j: NDArray[np.float64]
    solar_j: NDArray[np.float64]
    curtailed_j: NDArray[np.float64]
    bus_j: NDArray[np.float64]
    fl_j: NDArray[np.float64]
    shortfall_j: NDArray[np.float64]


def _round_terms(
    caller: str, soc_j: ArrayLike, sunlit_s: ArrayLike, duration_s: ArrayLike, system: PowerSystem
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Validated (soc, solar input, bus demand), each (N,) on the ledger grid."""
    if not isinstance(system, PowerSystem):
        raise OrbitsError(f"{caller}: system must be a PowerSystem, got {type(system).__name__}")
    soc = _as_field(caller, "soc_j", soc_j, 0.0, _MAX_ENERGY_J)
    duration = _as_field(caller, "duration_s", duration_s, 0.0, 1e9)
    sunlit = _as_field(caller, "sunlit_s", sunlit_s, 0.0, 1e9)
    try:
        soc, duration, sunlit, array_w, bus_w, efficiency, capacity = np.broadcast_arrays(
            np.atleast_1d(soc), duration, sunlit, system.array_w, system.bus_w, system.charge_efficiency,
            system.capacity_j,
        )
    except ValueError:
        raise OrbitsError(
            f"{caller}: soc_j, sunlit_s and duration_s have shapes {np.shape(soc)}, {np.shape(sunlit)}, "
            f"{np.shape(duration)} but the PowerSystem describes {len(system)} satellite(s)"
        ) from None
    over = np.flatnonzero(sunlit > duration)
    if over.size:
        index = int(over[0])
        raise OrbitsError(
            f"{caller}: sunlit_s[{index}] = {float(sunlit[index])!r} exceeds duration_s {float(duration[index])!r}"
        )
    soc = _nearest(soc)
    # A charge within one quantum above the (rounded-down) capacity is the full battery.
    full = np.flatnonzero(soc > capacity + ENERGY_QUANTUM_J)
    if full.size:
        index = int(full[0])
        raise OrbitsError(f"{caller}: soc_j[{index}] = {float(soc[index])!r} exceeds capacity_j {float(capacity[index])!r}")
    solar = _nearest(efficiency * array_w * sunlit)
    bus = _nearest(bus_w * duration)
    for name, energy in (("solar input", solar), ("bus energy", bus)):
        if np.any(energy > _MAX_ENERGY_J):
            index = int(np.argmax(energy))
            raise OrbitsError(f"{caller}: {name} of satellite {index} is {energy[index]:g} J, above {_MAX_ENERGY_J:g} J")
    return np.minimum(soc, capacity), solar, bus


def round_budget_j(
    soc_j: ArrayLike, sunlit_s: ArrayLike, duration_s: ArrayLike, system: PowerSystem, reserve_j: ArrayLike = 0.0
) -> NDArray[np.float64]:
    """Energy (N,) J federated learning may spend this round so the battery ends it at or above its floor.

    ``max(0, soc + charge_efficiency * array_w * sunlit_s - bus_w * duration_s - floor - reserve_j)``:
    the end-of-round balance of the module docstring, with ``floor = (1 - dod) * capacity``. Spending
    at most this keeps ``step_battery(...).soc_j >= floor + reserve_j``; a satellite whose bus alone
    takes it below that gets 0. A greedy budget lets FL end a sunlit round at the floor, and the bus
    then takes the battery below it in the next eclipse; `reserve_j` (per satellite or scalar, J) keeps
    energy for that, e.g. ``bus_w`` times the eclipse time ahead (at most ~36 min at 550 km).
    Scheduling FL into sunlit rounds, where the budget is largest, is the battery-saving policy of
    Razmi et al. 2024 [S23]; the SoC floor rule is that of Östman et al. 2023 [S10].

    Examples
    --------
    >>> six_u = PowerSystem(array_w=20.0, bus_w=5.0, capacity_j=77 * 3600.0, max_depth_of_discharge=0.2)
    >>> full = six_u.full_j(3)
    >>> # A 10 min round: in sunlight, in eclipse, and in eclipse with the battery at the floor.
    >>> round_budget_j([full[0], full[0], six_u.floor_j[0]], [600.0, 0.0, 0.0], 600.0, six_u).tolist()
    [64440.0, 52440.0, 0.0]
    >>> round_budget_j(full[:1], 600.0, 600.0, six_u, reserve_j=5.0 * 36 * 60).tolist()  # bus through an eclipse
    [53640.0]
    """
    soc, solar, bus = _round_terms("round_budget_j", soc_j, sunlit_s, duration_s, system)
    reserve = _as_field("round_budget_j", "reserve_j", reserve_j, 0.0, _MAX_ENERGY_J)
    try:
        reserve = _nearest(np.broadcast_to(reserve, soc.shape))
    except ValueError:
        shape = np.shape(reserve)
        raise OrbitsError(f"round_budget_j: reserve_j has shape {shape} but there are {soc.size} satellites") from None
    floor = np.broadcast_to(system.floor_j, soc.shape)
    # Clipped at the capacity, so a reserve larger than the usable charge still gives a defined budget.
    return np.maximum(soc + solar - bus - np.minimum(floor + reserve, system.capacity_j), 0.0)


def step_battery(
    soc_j: ArrayLike, sunlit_s: ArrayLike, duration_s: ArrayLike, fl_spend_j: ArrayLike, system: PowerSystem
) -> BatteryStep:
    """Advance each battery by one round (end-of-round balance; see the module docstring).

    ``level = soc + solar - bus - fl``; the new charge is ``min(level, capacity)`` and the excess is
    curtailed. If the battery would go below empty, the bus is served first, FL gets what is left
    and the rest is `shortfall_j`. All energies are on the 2**-10 J grid (`soc_j` and `fl_spend_j`
    are rounded to it), so ``step.soc_j - soc_j == step.solar_j - step.bus_j - step.fl_j`` holds
    exactly for any `soc_j` on the grid, which every `step_battery` result and `full_j` is.

    Examples
    --------
    >>> six_u = PowerSystem(array_w=20.0, bus_w=5.0, capacity_j=77 * 3600.0, max_depth_of_discharge=0.2)
    >>> step = step_battery(six_u.full_j(), 600.0, 600.0, 6000.0, six_u)  # full battery, sunlit round
    >>> float(step.soc_j[0]), float(step.curtailed_j[0]), float(step.solar_j[0] - step.bus_j[0] - step.fl_j[0])
    (277200.0, 3000.0, 0.0)
    >>> step = step_battery(step.soc_j, 0.0, 600.0, 6000.0, six_u)  # then an eclipsed round
    >>> float(step.soc_j[0]), float(step.solar_j[0])
    (268200.0, 0.0)

    References: Östman et al. 2023 [S10] and Gómez et al. 2023 [S11] for the battery/charging model of
    FL-on-satellite simulations; SMAD (Wertz et al. 2011, ch. 21) for the depth-of-discharge cap.
    """
    soc, solar, bus = _round_terms("step_battery", soc_j, sunlit_s, duration_s, system)
    fl = _as_field("step_battery", "fl_spend_j", fl_spend_j, 0.0, _MAX_ENERGY_J)
    try:
        fl = _nearest(np.broadcast_to(fl, soc.shape))
    except ValueError:
        raise OrbitsError(f"step_battery: fl_spend_j has shape {np.shape(fl)} but there are {soc.size} satellites") from None
    capacity = np.broadcast_to(system.capacity_j, soc.shape)
    # Every term is a multiple of 2**-10 J below 2**43 J, so each sum and difference below is exact.
    available = soc + solar
    bus_served = np.minimum(bus, available)
    fl_served = np.minimum(fl, available - bus_served)
    level = available - bus_served - fl_served
    new = np.minimum(level, capacity)
    curtailed = level - new
    return BatteryStep(
        soc_j=new,
        solar_j=solar - curtailed,
        curtailed_j=curtailed,
        bus_j=bus_served,
        fl_j=fl_served,
        shortfall_j=(bus - bus_served) + (fl - fl_served),
    )


def below_floor(soc_j: ArrayLike, system: PowerSystem) -> int:
    """How many batteries hold less than their depth-of-discharge floor (``system.floor_j``, J).

    A battery below its floor has been drawn deeper than its cycle life allows: what battery-aware planning never
    does (unless the bus alone drains it) and what a battery-unaware plan can.

    >>> six_u = PowerSystem(array_w=20.0, bus_w=5.0, capacity_j=1000.0, max_depth_of_discharge=0.2)
    >>> below_floor([1000.0, 800.0, 799.0], six_u)
    1
    """
    soc = np.asarray(soc_j, float)
    return int(np.count_nonzero(soc < np.broadcast_to(system.floor_j, soc.shape)))
