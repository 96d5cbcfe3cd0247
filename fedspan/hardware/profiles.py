"""Hardware profile records: the computer, the inter-satellite link terminals and the power system, validated.

Every built-in number comes from ``/work/shared/design/physical-params.md`` (sections 1-3 and 5) or
from the Fed-Span design defaults (the ``paper`` profile); ``docs/physical-model.md`` lists each one
with its source key and solidity. A profile is pure data: the lead's scenario code turns it into the
optimizer's :class:`optimization.problem.SatelliteResources` arrays (see :mod:`fedspan.hardware.fleet`).

Compute model (docs/physical-model.md, "Compute"): at clock ``f`` the computer delivers
``peak_flops * utilisation * f / max_clock_hz`` FLOP/s and draws
``P(f) = idle_power_w + (busy_power_w - idle_power_w) * (f / max_clock_hz)**3`` watts (CMOS dynamic
power ``C V^2 f`` with ``V ~ f``). In the optimizer's units a sample costs
``cycles_per_sample = F * max_clock_hz / (peak_flops * utilisation)`` cycles, the switched
capacitance is ``2 * (busy_power_w - idle_power_w) / max_clock_hz**3`` and the static power is
``idle_power_w``, so ``energy = static_power_w * T + 0.5 * capacitance * cycles * f**2``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

from orbits.links import LinkParams

from fedspan.errors import FedSpanError

__all__ = [
    "HardwareError",
    "ComputeSpec",
    "PowerSpec",
    "LinkSpec",
    "HardwareProfile",
    "LINK_TECHNOLOGIES",
    "LINK_POLICIES",
    "MAX_PROFILE_FILE_BYTES",
]

LINK_TECHNOLOGIES = ("optical", "rf")
LINK_POLICIES = ("knn", "grid")
MAX_PROFILE_FILE_BYTES = 64 * 1024
_WH_TO_J = 3600.0


class HardwareError(FedSpanError):
    """A hardware profile, profile file or fleet file that is malformed or physically out of range."""


# One rule per numeric field: (lowest, lowest allowed?, highest, highest allowed?). Every value must
# also be a finite real number; the rules are shared by the dataclasses and the TOML reader so a
# hand-built profile and a file fail with the same message.
_POSITIVE = (0.0, False, math.inf, False)
_NON_NEGATIVE = (0.0, True, math.inf, False)
_RULES: dict[str, dict[str, tuple[float, bool, float, bool]]] = {
    "compute": {
        "peak_flops": _POSITIVE,
        "utilisation": (0.0, False, 1.0, True),
        "max_clock_hz": _POSITIVE,
        "min_clock_hz": _POSITIVE,
        "idle_power_w": _NON_NEGATIVE,
        "busy_power_w": _POSITIVE,
        "fixed_cycles_per_sample": _POSITIVE,
        "fixed_capacitance": _POSITIVE,
    },
    "power": {
        "array_w": _NON_NEGATIVE,
        "bus_w": _NON_NEGATIVE,
        "battery_wh": _POSITIVE,
        "max_depth_of_discharge": (0.0, False, 1.0, False),
        "initial_state_of_charge": (0.0, True, 1.0, True),
    },
    "link": {
        "max_rate_bps": _POSITIVE,
        "max_distance_km": _POSITIVE,
        "max_tx_power_w": _POSITIVE,
        "aperture_m": _NON_NEGATIVE,
        "terminal_power_w": _NON_NEGATIVE,
        "acquisition_s": _NON_NEGATIVE,
        "terminals": (1.0, True, 64.0, True),
        "packet_bits": _NON_NEGATIVE,
    },
}


def _describe(rule: tuple[float, bool, float, bool]) -> str:
    low, low_ok, high, high_ok = rule
    if high == math.inf:
        return f"a finite number {'>=' if low_ok else '>'} {low:g}"
    return f"a number in {'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"


def _check_number(table: str, name: str, value: Any) -> None:
    """Raise HardwareError unless ``value`` satisfies ``table.name``'s rule (bools are not numbers)."""
    rule = _RULES[table][name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise HardwareError(f"{table}.{name} must be {_describe(rule)}, got {value!r}")
    try:
        as_float = float(value)
    except OverflowError:  # a TOML integer beyond float range
        raise HardwareError(f"{table}.{name} must be {_describe(rule)}, got {value!r}") from None
    low, low_ok, high, high_ok = rule
    ok = math.isfinite(as_float) and (value >= low if low_ok else value > low) and (value <= high if high_ok else value < high)
    if not ok:
        raise HardwareError(f"{table}.{name} must be {_describe(rule)}, got {value!r}")


def _check_text(table: str, name: str, value: Any, choices: tuple[str, ...] | None = None) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise HardwareError(f"{table}.{name} must be a non-empty string of at most 200 characters, got {value!r}")
    if choices is not None and value not in choices:
        raise HardwareError(f"{table}.{name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class ComputeSpec:
    """The onboard computer that trains (SI units: FLOP/s, Hz, W).

    Attributes:
        name: e.g. ``"NVIDIA Jetson Nano (10 W mode)"``.
        peak_flops: FP32 FLOP/s at ``max_clock_hz``.
        utilisation: achieved fraction of peak while training small models, in (0, 1].
        max_clock_hz: highest clock (the optimizer's ``max_cpu_hz``).
        min_clock_hz: lowest clock DVFS may choose (the optimizer's ``min_cpu_hz``), <= max.
        idle_power_w: static power while awake (training or waiting inside a task), >= 0.
        busy_power_w: total power at ``max_clock_hz`` under a training load, > ``idle_power_w``.
        fixed_cycles_per_sample: the ``paper`` profile only: cycles per sample regardless of FLOPs.
        fixed_capacitance: the ``paper`` profile only: the design's switched capacitance (F).

    >>> from fedspan.hardware import PROFILES
    >>> nano = PROFILES["cubesat"].compute
    >>> round(nano.cycles_per_sample(70e6) / 1e6, 3)  # Mcycles (at 921.6 MHz) for a 70 MFLOP sample
    2.734
    """

    name: str
    peak_flops: float
    utilisation: float
    max_clock_hz: float
    min_clock_hz: float
    idle_power_w: float
    busy_power_w: float
    fixed_cycles_per_sample: float | None = None
    fixed_capacitance: float | None = None

    def __post_init__(self) -> None:
        _check_text("compute", "name", self.name)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "name" and not (f.name.startswith("fixed_") and value is None):
                _check_number("compute", f.name, value)
        if self.min_clock_hz > self.max_clock_hz:
            raise HardwareError(f"compute.min_clock_hz = {self.min_clock_hz:g} exceeds compute.max_clock_hz = {self.max_clock_hz:g}")
        if not self.busy_power_w > self.idle_power_w:
            raise HardwareError(f"compute.busy_power_w = {self.busy_power_w:g} must exceed compute.idle_power_w = {self.idle_power_w:g}")

    @property
    def sustained_flops(self) -> float:
        """Achieved FLOP/s at the maximum clock: ``peak_flops * utilisation``."""
        return self.peak_flops * self.utilisation

    def cycles_per_sample(self, flops_per_sample: float) -> float:
        """Optimizer cycles per training sample: ``F * max_clock_hz / (peak_flops * utilisation)``.

        With it the optimizer's compute time ``e B c / f`` equals ``e B F / (peak * u * f / f_max)``, the
        FLOP-count time [1]_ at clock ``f``. The ``paper`` profile returns its fixed ``1e7``.

        References
        ----------
        .. [1] J. Kaplan et al., "Scaling laws for neural language models", arXiv:2001.08361, 2020
           (training FLOPs ~ 3x forward).
        """
        if self.fixed_cycles_per_sample is not None:
            return float(self.fixed_cycles_per_sample)
        if isinstance(flops_per_sample, bool) or not (math.isfinite(flops_per_sample) and flops_per_sample > 0):
            raise HardwareError(f"flops_per_sample must be a finite number > 0, got {flops_per_sample!r}")
        return float(flops_per_sample) * self.max_clock_hz / self.sustained_flops

    @property
    def capacitance(self) -> float:
        """Switched capacitance (F) such that ``0.5 C c f^2`` per sample is the dynamic energy.

        ``2 (busy - idle) / max_clock^3``, so the dynamic power at clock f is
        ``(busy - idle) (f / f_max)^3`` (CMOS ``C V^2 f`` with V proportional to f [1]_).

        References
        ----------
        .. [1] T. D. Burd and R. W. Brodersen, "Energy efficient CMOS microprocessor design",
           Proc. 28th Hawaii Int. Conf. on System Sciences, 1995.
        """
        if self.fixed_capacitance is not None:
            return float(self.fixed_capacitance)
        return 2.0 * (self.busy_power_w - self.idle_power_w) / self.max_clock_hz**3

    @property
    def static_power_w(self) -> float:
        """Power drawn while awake regardless of clock (W): ``idle_power_w``."""
        return float(self.idle_power_w)

    def power_w(self, clock_hz: float) -> float:
        """Total power while training at ``clock_hz`` (W): ``idle + (busy - idle) (f / f_max)^3``.

        >>> from fedspan.hardware import PROFILES
        >>> round(PROFILES["cubesat"].compute.power_w(640e6), 2)  # the Nano's 5 W mode clock
        4.35
        """
        return self.idle_power_w + (self.busy_power_w - self.idle_power_w) * (clock_hz / self.max_clock_hz) ** 3


@dataclass(frozen=True)
class PowerSpec:
    """The satellite's electrical power system (W, Wh).

    Attributes:
        array_w: solar array output in full sunlight (W).
        bus_w: housekeeping load, always on (W); includes the computer's sleep draw.
        battery_wh: battery capacity (Wh).
        max_depth_of_discharge: deepest allowed discharge, a fraction in (0, 1).
        initial_state_of_charge: state of charge at the start of the run, a fraction of capacity.
    """

    array_w: float
    bus_w: float
    battery_wh: float
    max_depth_of_discharge: float
    initial_state_of_charge: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_number("power", f.name, getattr(self, f.name))

    @property
    def capacity_j(self) -> float:
        """Battery capacity in joules (``battery_wh * 3600``)."""
        return self.battery_wh * _WH_TO_J


@dataclass(frozen=True)
class LinkSpec:
    """The inter-satellite link terminals of one satellite.

    Attributes:
        name: e.g. ``"SDA-class optical terminal (2.5 Gbit/s)"``.
        technology: ``"optical"`` (FSO rate monomial in distance and power, capped at ``max_rate_bps``)
            or ``"rf"`` (a fixed ``max_rate_bps`` anywhere within ``max_distance_km``).
        max_rate_bps: terminal rate cap (bit/s).
        max_distance_km: longest usable link (km).
        max_tx_power_w: optical: laser transmit power; rf: RF output power (W).
        aperture_m: optical telescope diameter (m); ignored (may be 0) for rf.
        terminal_power_w: electrical power of ONE terminal while its link is active, beyond the
            transmit power the optimizer charges (W).
        acquisition_s: time to acquire a link that was not up in the previous round (s).
        terminals: terminals per satellite, the degree limit of the aggregation tree.
        packet_bits: the unit a relaying satellite forwards (bits): sums pass on packet by packet, so a
            path pays the model's air time once and a packet's per hop (0: whole models, store and forward).
    """

    name: str
    technology: str
    max_rate_bps: float
    max_distance_km: float
    max_tx_power_w: float
    aperture_m: float
    terminal_power_w: float
    acquisition_s: float
    terminals: int
    packet_bits: float = 0.0

    def __post_init__(self) -> None:
        _check_text("link", "name", self.name)
        _check_text("link", "technology", self.technology, LINK_TECHNOLOGIES)
        for f in fields(self):
            if f.name not in ("name", "technology"):
                _check_number("link", f.name, getattr(self, f.name))
        if int(self.terminals) != self.terminals:
            raise HardwareError(f"link.terminals must be an integer, got {self.terminals!r}")
        if self.technology == "optical" and self.aperture_m <= 0:
            raise HardwareError(f"link.aperture_m must be > 0 for an optical terminal, got {self.aperture_m!r}")

    def link_params(self) -> LinkParams:
        """The :class:`orbits.links.LinkParams` of this terminal (wavelength, efficiency and losses at
        their design defaults; an rf terminal keeps the default aperture, which its fixed rate ignores).

        >>> from fedspan.hardware import PROFILES
        >>> PROFILES["paper"].link.link_params() == LinkParams()
        True
        """
        aperture = self.aperture_m if self.technology == "optical" else LinkParams().aperture_diameter_m
        return LinkParams(max_tx_power_w=float(self.max_tx_power_w), aperture_diameter_m=float(aperture),
                          max_rate_bps=float(self.max_rate_bps), max_distance_km=float(self.max_distance_km),
                          terminals=int(self.terminals), technology=self.technology,
                          terminal_power_w=float(self.terminal_power_w), acquisition_s=float(self.acquisition_s),
                          packet_bits=float(self.packet_bits))


@dataclass(frozen=True)
class HardwareProfile:
    """A satellite's hardware: computer, link terminals, power system and the ISL policy they imply.

    Attributes:
        name: the profile's key (``PROFILES``) or file name.
        description: one line for humans.
        compute: the training computer.
        link: the inter-satellite link terminals.
        power: the power system; ``None`` means always powered with no battery (the paper's model).
        link_policy: ``"knn"`` (steerable terminals, nearest feasible neighbours) or ``"grid"``
            (fixed neighbours: 2 in-plane + 2 cross-plane, the +Grid).
        sources: keys into the source list of docs/physical-model.md, e.g. ``("S1", "S10")``.
    """

    name: str
    description: str
    compute: ComputeSpec
    link: LinkSpec
    power: PowerSpec | None
    link_policy: str = "knn"
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_text("profile", "name", self.name)
        if not isinstance(self.description, str) or len(self.description) > 500:
            raise HardwareError(f"profile.description must be a string of at most 500 characters, got {self.description!r}")
        for attr, kind in (("compute", ComputeSpec), ("link", LinkSpec)):
            if not isinstance(getattr(self, attr), kind):
                raise HardwareError(f"profile.{attr} must be a {kind.__name__}, got {type(getattr(self, attr)).__name__}")
        if self.power is not None and not isinstance(self.power, PowerSpec):
            raise HardwareError(f"profile.power must be a PowerSpec or None, got {type(self.power).__name__}")
        _check_text("profile", "link_policy", self.link_policy, LINK_POLICIES)
        if self.link_policy == "grid" and self.link.terminals < 2:
            raise HardwareError(f"profile.link_policy 'grid' needs link.terminals >= 2, got {self.link.terminals}")
        if not isinstance(self.sources, tuple) or not all(isinstance(s, str) and s for s in self.sources):
            raise HardwareError(f"profile.sources must be a tuple of non-empty strings, got {self.sources!r}")
