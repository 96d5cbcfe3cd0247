"""Fleets of satellites that differ: seeded profile mixes, fleet CSV files, per-satellite arrays.

A constellation may mix computers and power systems, but not link technologies: an optical terminal
cannot talk to an RF one, so every profile of one fleet must share ``link.technology``. The arrays :func:`satellite_arrays` returns are the optimizer's per-satellite
:class:`optimization.problem.SatelliteResources` fields plus the power-system state the battery model
needs, computed once per distinct profile and spread with one fancy index.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from fedspan.fileio import read_or_raise
from fedspan.hardware.builtin import PROFILES
from fedspan.hardware.profiles import HardwareError, HardwareProfile

__all__ = ["Fleet", "MAX_FLEET_FILE_BYTES", "FLEET_COLUMNS", "seeded_mix", "read_fleet_csv", "satellite_arrays"]

MAX_FLEET_FILE_BYTES = 8 * 1024 * 1024
FLEET_COLUMNS = ("satellite", "profile", "data_scale", "battery_wh")
_MAX_DATA_SCALE = 1e6
_WH_TO_J = 3600.0


def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``shares * total`` (Hamilton's method); ties to the first."""
    exact = shares * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def seeded_mix(weights: Mapping[str, float], num_satellites: int, seed: int,
               known: Mapping[str, HardwareProfile] = PROFILES) -> np.ndarray:
    """Profile names for ``num_satellites`` satellites in the proportions ``weights``, placed at random.

    The counts are the largest-remainder rounding of ``weights`` (normalised) times
    ``num_satellites`` [1]_, so a 30/70 mix of 10 satellites has exactly 3 and 7; which satellites
    get which profile is a permutation drawn from ``numpy.random.default_rng(seed)``. Names are
    sorted first, so the result does not depend on the mapping's order. Returns a ``(N,)`` array of
    strings.

    >>> mix = seeded_mix({"cubesat": 0.25, "smallsat-edge": 0.75}, 8, seed=1)
    >>> sorted(mix.tolist()).count("cubesat"), len(mix)
    (2, 8)

    References
    ----------
    .. [1] M. L. Balinski and H. P. Young, "Fair Representation", 2nd ed., Brookings, 2001 (Hamilton's method).
    """
    if isinstance(num_satellites, bool) or int(num_satellites) != num_satellites or num_satellites < 1:
        raise HardwareError(f"num_satellites must be a positive integer, got {num_satellites!r}")
    if isinstance(seed, bool) or int(seed) != seed:
        raise HardwareError(f"seed must be an integer, got {seed!r}")
    if not weights:
        raise HardwareError("the profile mix is empty")
    names = sorted(weights)
    for name in names:
        if name not in known:
            raise HardwareError(f"unknown hardware profile {name!r} in the mix (valid: {', '.join(known)})")
        w = weights[name]
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not (math.isfinite(w) and w >= 0):
            raise HardwareError(f"mix weight of {name!r} must be a finite number >= 0, got {w!r}")
    values = np.array([float(weights[n]) for n in names])
    if values.sum() <= 0:
        raise HardwareError("the profile mix's weights sum to 0")
    counts = _largest_remainder(values / values.sum(), int(num_satellites))
    labels = np.repeat(np.array(names), counts)
    return np.random.default_rng(int(seed)).permutation(labels)


@dataclass(frozen=True)
class Fleet:
    """Per-satellite overrides read from a fleet file.

    Attributes:
        profile: ``(N,)`` profile names; ``""`` for satellites the file does not list (they use the
            run's profile).
        data_scale: ``(N,)`` multiplier of each satellite's share of the data (1 where not given).
        battery_wh: ``(N,)`` battery capacity override (Wh); NaN keeps the profile's.
        known: the profiles the names refer to.
    """

    profile: np.ndarray
    data_scale: np.ndarray
    battery_wh: np.ndarray
    known: Mapping[str, HardwareProfile]

    def __len__(self) -> int:
        return len(self.profile)

    def profiles(self, default: HardwareProfile) -> tuple[list[HardwareProfile], np.ndarray]:
        """Distinct profiles and each satellite's index into them, unlisted satellites using ``default``.

        A battery override makes a variant of the profile (its ``power`` replaced); one variant per
        distinct (profile, battery) pair, so the list stays as short as the file's variety.
        """
        names = np.where(self.profile == "", "\x00default", self.profile)
        battery = np.where(np.isnan(self.battery_wh), -1.0, self.battery_wh)
        keys, index = np.unique(np.rec.fromarrays([names, battery]), return_inverse=True)
        unique: list[HardwareProfile] = []
        for name, wh in keys.tolist():  # one iteration per distinct (profile, battery) pair
            profile = default if name == "\x00default" else self.known[name]
            if wh >= 0:
                if profile.power is None:
                    raise HardwareError(f"a battery_wh override needs a power system; profile {profile.name!r} has none")
                profile = replace(profile, power=replace(profile.power, battery_wh=float(wh)))
            unique.append(profile)
        return unique, index.reshape(-1)

    def satellite_arrays(self, default: HardwareProfile, flops_per_sample: float) -> dict[str, np.ndarray]:
        """:func:`satellite_arrays` of this fleet, unlisted satellites using ``default``; adds ``data_scale``."""
        unique, index = self.profiles(default)
        arrays = satellite_arrays(unique, flops_per_sample, index=index)
        arrays["data_scale"] = self.data_scale.copy()
        return arrays


def _fleet_error(path: Path, line: int | None, message: str) -> HardwareError:
    return HardwareError(f"{path}{f':{line}' if line is not None else ''}: {message}")


def _number(path: Path, line: int, column: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fleet_error(path, line, f"{column} {text!r} is not a number") from None
    if not (math.isfinite(value) and low < value <= high):
        raise _fleet_error(path, line, f"{column} {text!r} must be a finite number in ({low:g}, {high:g}]")
    return value


def read_fleet_csv(path: str | Path, num_satellites: int,
                   known: Mapping[str, HardwareProfile] = PROFILES) -> Fleet:
    """Read a fleet file: CSV rows ``satellite,profile[,data_scale][,battery_wh]``.

    ``satellite`` is the satellite's 0-based index in the constellation (the order of the TLE file
    or of the Walker preset; Walker presets have no NORAD ids, so indices work for both).
    ``profile`` is a name in ``known`` (the built-in ``PROFILES`` by default). ``data_scale`` (> 0)
    multiplies the satellite's share of the data; ``battery_wh`` (> 0) replaces its profile's
    battery capacity. Empty optional cells keep the defaults. Satellites without a row use the
    run's profile. A header row naming the columns is optional (without it the columns are
    positional, in the order above); blank lines and ``#`` comments are skipped.

    The file is untrusted: it is read by :func:`fedspan.fileio.read_or_raise` (larger than 8 MiB, devices
    and FIFOs refused before reading); every error is one line naming the file and line (unknown profile names list the valid ones; a satellite listed twice,
    an index out of range or a malformed number are refused).
    """
    path = Path(path)
    if isinstance(num_satellites, bool) or int(num_satellites) != num_satellites or num_satellites < 1:
        raise HardwareError(f"num_satellites must be a positive integer, got {num_satellites!r}")
    n = int(num_satellites)
    data = read_or_raise(path, MAX_FLEET_FILE_BYTES, HardwareError, "fleet file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fleet_error(path, data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None
    profile = np.full(n, "", dtype=object)
    data_scale = np.ones(n)
    battery = np.full(n, np.nan)
    seen = np.full(n, 0, dtype=np.int64)  # line number of each satellite's row
    columns: list[str] | None = None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _fleet_error(path, reader.line_num, f"malformed CSV ({exc})") from None
        number = reader.line_num
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if columns is None:
            columns = list(FLEET_COLUMNS)
            if not cells[0].lstrip("+-").isdigit():  # a header row
                _check_header(path, number, cells)
                columns = cells
                continue
        if len(cells) > len(columns):
            raise _fleet_error(path, number, f"{len(cells)} fields, at most {len(columns)} expected ({','.join(columns)})")
        values = dict(zip(columns, cells))
        if len(cells) < 2 or not values.get("profile"):
            raise _fleet_error(path, number, "each row needs a satellite index and a profile name")
        index_text = values["satellite"]
        if not index_text.lstrip("+-").isdigit():
            raise _fleet_error(path, number, f"satellite {index_text!r} is not an integer index")
        i = int(index_text)
        if not 0 <= i < n:
            raise _fleet_error(path, number, f"satellite index {i} is outside 0..{n - 1}")
        if seen[i]:
            raise _fleet_error(path, number, f"satellite {i} is listed twice (first on line {seen[i]})")
        name = values["profile"]
        if name not in known:
            raise _fleet_error(path, number, f"unknown profile {name!r} (valid: {', '.join(known)})")
        if values.get("data_scale"):
            data_scale[i] = _number(path, number, "data_scale", values["data_scale"], 0.0, _MAX_DATA_SCALE)
        if values.get("battery_wh"):
            if known[name].power is None:
                raise _fleet_error(path, number, f"battery_wh given but profile {name!r} has no power system")
            battery[i] = _number(path, number, "battery_wh", values["battery_wh"], 0.0, 1e7)
        profile[i] = name
        seen[i] = number
    if columns is None or not seen.any():
        raise _fleet_error(path, None, "no satellite rows in fleet file")
    return Fleet(profile=profile.astype(str), data_scale=data_scale, battery_wh=battery, known=known)


def _check_header(path: Path, line: int, cells: list[str]) -> None:
    for c in cells:
        if c not in FLEET_COLUMNS:
            raise _fleet_error(path, line, f"unknown column {c!r} (valid: {', '.join(FLEET_COLUMNS)})")
    if len(set(cells)) != len(cells):
        raise _fleet_error(path, line, "a column is named twice")
    if cells[:2] != ["satellite", "profile"]:
        raise _fleet_error(path, line, "the first two columns must be satellite,profile")


_RESOURCE_FIELDS = ("max_cpu_hz", "min_cpu_hz", "cycles_per_sample", "capacitance", "static_power_w")
_POWER_FIELDS = ("array_w", "bus_w", "capacity_j", "max_depth_of_discharge", "initial_soc_j")
_LINK_FIELDS = ("terminals", "max_tx_power_w", "terminal_power_w", "acquisition_s", "max_rate_bps", "max_distance_km")


def _profile_row(p: HardwareProfile, flops_per_sample: float) -> list[float]:
    c = p.compute
    row = [c.max_clock_hz, c.min_clock_hz, c.cycles_per_sample(flops_per_sample), c.capacitance, c.static_power_w]
    if p.power is None:
        # Always powered (the paper's model): an infinite battery that never runs down; no array or
        # bus term, so an energy ledger that adds array - bus gets 0 and stays NaN-free.
        row += [0.0, 0.0, math.inf, 1.0, math.inf]
    else:
        q = p.power
        row += [q.array_w, q.bus_w, q.capacity_j, q.max_depth_of_discharge, q.initial_state_of_charge * q.capacity_j]
    k = p.link
    row += [k.terminals, k.max_tx_power_w, k.terminal_power_w, k.acquisition_s, k.max_rate_bps, k.max_distance_km]
    return row


def satellite_arrays(profiles: Sequence[HardwareProfile], flops_per_sample: float,
                     index: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-satellite arrays for the optimizer and the power model, one profile per satellite.

    ``profiles`` holds one profile per satellite, or, with ``index`` (``(N,)`` ints), the distinct
    profiles that ``index`` points into. ``flops_per_sample`` is the model's training FLOPs per
    sample (:func:`fedspan.hardware.flops.training_flops_per_sample`).

    Returns ``(N,)`` float arrays: the :class:`optimization.problem.SatelliteResources` fields
    ``max_cpu_hz``, ``min_cpu_hz`` (Hz), ``cycles_per_sample``, ``capacitance`` (F),
    ``static_power_w`` (W); the power system ``array_w``, ``bus_w`` (W), ``capacity_j``,
    ``initial_soc_j`` (J), ``max_depth_of_discharge`` (satellites without a power system get
    ``capacity_j = initial_soc_j = inf``, ``array_w = bus_w = 0``, depth 1); and the link terminal
    ``terminals`` (int), ``max_tx_power_w``, ``terminal_power_w`` (W), ``acquisition_s`` (s),
    ``max_rate_bps``, ``max_distance_km`` (a link between two satellites is bounded by the smaller
    of its two ends). No NaN. Each distinct profile is evaluated once (a Python loop over the few
    distinct profiles) and spread to the satellites with one fancy index.

    Profiles that mix link technologies are refused: terminals must be interoperable, so a
    constellation has one link technology. (Profiles may differ in ``link_policy``; the ISL graph
    is built once per constellation, with the run's policy.)

    >>> arrays = satellite_arrays([PROFILES["paper"]] * 3, flops_per_sample=1e6)
    >>> arrays["cycles_per_sample"].tolist(), arrays["capacity_j"].tolist()
    ([10000000.0, 10000000.0, 10000000.0], [inf, inf, inf])
    """
    if index is None:
        # Satellites usually share a handful of profile objects: group them by identity (C-level
        # map + np.unique), not by a Python loop over satellites.
        ids = np.fromiter(map(id, profiles), dtype=np.int64, count=len(profiles))
        _, first, index = np.unique(ids, return_index=True, return_inverse=True)
        unique = [profiles[int(i)] for i in first]
    else:
        unique = list(profiles)
        index = np.asarray(index)
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
            raise HardwareError("index must be a 1-D integer array")
        if len(index) and (index.min() < 0 or index.max() >= len(unique)):
            raise HardwareError(f"index values must lie in 0..{len(unique) - 1}")
    if not unique:
        raise HardwareError("no profiles given")
    for p in unique:
        if not isinstance(p, HardwareProfile):
            raise HardwareError(f"profiles must be HardwareProfile objects, got {type(p).__name__}")
    technologies = sorted({p.link.technology for p in unique})
    if len(technologies) > 1:
        names = ", ".join(sorted({p.name for p in unique}))
        raise HardwareError(f"profiles {names} mix link technologies ({', '.join(technologies)}): a constellation "
                            "has one, since its terminals must be interoperable")
    table = np.array([_profile_row(p, flops_per_sample) for p in unique], dtype=np.float64)
    per_satellite = table[index.reshape(-1)]
    names = (*_RESOURCE_FIELDS, *_POWER_FIELDS, *_LINK_FIELDS)
    out = {name: per_satellite[:, j].copy() for j, name in enumerate(names)}
    out["terminals"] = out["terminals"].astype(np.int64)
    return out
