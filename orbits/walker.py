"""Walker-delta constellations (i:T/P/F at altitude h) written as ordinary checksummed TLEs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sgp4.earth_gravity import wgs72

from orbits.errors import OrbitsError
from orbits.tle import TLE, make_tle, write_tle

__all__ = ["WalkerSpec", "WALKER_PRESETS", "DEFAULT_EPOCH", "walker_delta", "write_preset", "preset"]

#: Fixed default epoch so that presets are reproducible byte for byte.
DEFAULT_EPOCH = datetime(2024, 5, 12, 0, 0, 0, tzinfo=timezone.utc)

_NOTATION = re.compile(r"^\s*([0-9.]+)\s*:\s*(\d+)\s*/\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class WalkerSpec:
    """Walker-delta pattern i:T/P/F: T satellites in P equally spaced planes, phasing F, circular at altitude."""

    inclination_deg: float
    total: int
    planes: int
    phasing: int
    altitude_km: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.inclination_deg <= 180.0:
            raise OrbitsError(f"Walker inclination {self.inclination_deg} deg is outside [0, 180]")
        if self.planes < 1 or self.total < 1 or self.total % self.planes:
            raise OrbitsError(f"Walker T={self.total} must be a positive multiple of P={self.planes}")
        if not 0 <= self.phasing < self.planes:
            raise OrbitsError(f"Walker phasing F={self.phasing} must be in [0, P-1={self.planes - 1}]")
        if not 100.0 <= self.altitude_km <= 40000.0:
            raise OrbitsError(f"Walker altitude {self.altitude_km} km is outside [100, 40000]")

    @classmethod
    def parse(cls, notation: str, altitude_km: float) -> WalkerSpec:
        """Build a spec from the notation 'i:T/P/F', e.g. '53:1584/72/1'."""
        match = _NOTATION.match(notation)
        if not match:
            raise OrbitsError(f"Walker notation {notation!r} is not of the form 'i:T/P/F' (e.g. '53:1584/72/1')")
        inclination, total, planes, phasing = match.groups()
        return cls(float(inclination), int(total), int(planes), int(phasing), altitude_km)

    @property
    def per_plane(self) -> int:
        """Satellites per plane, S = T / P."""
        return self.total // self.planes

    @property
    def notation(self) -> str:
        """The 'i:T/P/F' string of this pattern."""
        return f"{self.inclination_deg:g}:{self.total}/{self.planes}/{self.phasing}"

    @property
    def mean_motion_rev_per_day(self) -> float:
        """Keplerian mean motion of the circular orbit with SGP4's own (WGS-72) constants."""
        semi_major_km = wgs72.radiusearthkm + self.altitude_km
        return 86400.0 * math.sqrt(wgs72.mu / semi_major_km**3) / (2.0 * math.pi)


WALKER_PRESETS: dict[str, WalkerSpec] = {
    "starlink-shell1": WalkerSpec(53.0, 1584, 72, 1, 550.0),
    "small": WalkerSpec(53.0, 66, 6, 1, 550.0),
    "iridium": WalkerSpec(86.4, 66, 6, 2, 780.0),
    "oneweb": WalkerSpec(87.9, 648, 18, 1, 1200.0),
    # A CubeSat "string of pearls" (one plane, as Planet's flocks are deployed): 45 satellites 966 km apart at
    # 550 km, within the 1000 km reach of the `cubesat` profile's S-band crosslinks (physical-params.md S42).
    "cubesat-string": WalkerSpec(53.0, 45, 1, 0, 550.0),
}


def preset(name: str) -> WalkerSpec:
    """Look up a preset by name; unknown names raise OrbitsError listing the known ones."""
    try:
        return WALKER_PRESETS[name]
    except KeyError:
        raise OrbitsError(f"unknown Walker preset {name!r}; known: {', '.join(sorted(WALKER_PRESETS))}") from None


def walker_delta(
    spec: WalkerSpec,
    epoch: datetime | None = None,
    first_norad_id: int = 1,
    name_prefix: str = "WALKER",
) -> list[TLE]:
    """TLEs of a Walker-delta pattern in plane-major order: satellite p*S + s is slot s of plane p.

    The pattern i:T/P/F of Walker [1]_: P circular planes at inclination i with right ascensions
    360/P apart, T/P satellites per plane, and a phase offset of 360 F/T between adjacent planes.

    Examples
    --------
    >>> tles = walker_delta(WalkerSpec(53.0, 66, 6, 1, 550.0))
    >>> len(tles), tles[0].name, tles[-1].name
    (66, 'WALKER-0-0', 'WALKER-5-10')

    References
    ----------
    .. [1] J. G. Walker, "Satellite constellations", Journal of the British Interplanetary Society 37,
       559-572, 1984.
    """
    epoch = DEFAULT_EPOCH if epoch is None else epoch
    per_plane = spec.per_plane
    motion = spec.mean_motion_rev_per_day
    tles = []
    for plane in range(spec.planes):
        raan = 360.0 * plane / spec.planes
        for slot in range(per_plane):
            # Walker phasing: plane p is advanced by F * 360 / T relative to plane p - 1.
            anomaly = 360.0 * slot / per_plane + 360.0 * spec.phasing * plane / spec.total
            index = plane * per_plane + slot
            tles.append(
                make_tle(
                    norad_id=first_norad_id + index,
                    epoch=epoch,
                    inclination_deg=spec.inclination_deg,
                    raan_deg=raan,
                    eccentricity=0.0,
                    arg_perigee_deg=0.0,
                    mean_anomaly_deg=anomaly,
                    mean_motion_rev_per_day=motion,
                    name=f"{name_prefix}-{plane}-{slot}",
                )
            )
    return tles


def write_preset(name: str, path: str | Path, epoch: datetime | None = None) -> int:
    """Write the named preset as a 3-line TLE file; returns the number of satellites written."""
    prefix = name.upper()
    return write_tle(path, walker_delta(preset(name), epoch, name_prefix=prefix))
