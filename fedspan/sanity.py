"""Checks of a constellation before anything is planned: errors for inputs that cannot work,
warnings for inputs that run but are probably not what the user meant."""

from __future__ import annotations

import math
import warnings
from datetime import datetime

import numpy as np

from fedspan.errors import FedSpanError, FedSpanWarning

#: Upper edge of low Earth orbit used for the warning, km (mean motion about 11.3 rev/day).
LEO_MAX_ALTITUDE_KM = 2000.0
#: SGP4 from a TLE degrades within days to weeks; beyond this the positions are a guess.
STALE_TLE_DAYS = 30.0
#: Two satellites closer than this at the start are the same orbit twice.
COLOCATED_KM = 0.01

_MU_KM3_S2 = 398600.4418
_EARTH_RADIUS_KM = 6378.137


class ConstellationError(FedSpanError):
    """A constellation that cannot be planned (e.g. two satellites in the same place)."""


def altitude_from_mean_motion_km(rev_per_day: float) -> float:
    """Altitude of a circular orbit with this mean motion (Kepler's third law)."""
    n = rev_per_day * 2.0 * math.pi / 86400.0
    return (_MU_KM3_S2 / n**2) ** (1.0 / 3.0) - _EARTH_RADIUS_KM


def check_constellation(constellation: object, source: str, start: datetime, positions_km: np.ndarray) -> None:
    """Raise :class:`ConstellationError` for co-located satellites; warn far from LEO or far from the epoch.

    ``positions_km`` (N, 3) are the satellites at ``start`` (NaN rows for satellites SGP4 drops).
    """
    _check_colocated(constellation, source, positions_km)
    motions = np.array([t.mean_motion_rev_per_day for t in getattr(constellation, "tles", [])], dtype=float)
    if motions.size:
        altitude = np.array([altitude_from_mean_motion_km(m) if m > 0 else math.inf for m in motions])
        worst = int(np.argmin(motions))
        _warn_some(source, altitude > LEO_MAX_ALTITUDE_KM,
                   f"satellites orbit above {LEO_MAX_ALTITUDE_KM:.0f} km (lowest mean motion {motions[worst]:.4g} "
                   f"rev/day, about {altitude[worst]:,.0f} km): not low Earth orbit; the link and energy models "
                   f"assume LEO")
    epoch = getattr(constellation, "epoch", None)
    if epoch is not None:
        days = abs((start - epoch).total_seconds()) / 86400.0
        if days > STALE_TLE_DAYS:
            warnings.warn(f"{source}: start {start.isoformat()} is {days:,.0f} days from the newest TLE epoch "
                          f"{epoch.isoformat()}; SGP4 positions degrade within days to weeks of the epoch",
                          FedSpanWarning, stacklevel=2)
            return
    # The newest epoch can be fresh while single TLEs are decades old (one 1957 record among 2024 ones).
    epochs = [t.epoch for t in getattr(constellation, "tles", [])]
    if epochs:
        offsets = np.abs(np.array([(start - e).total_seconds() for e in epochs])) / 86400.0
        worst = int(np.argmax(offsets))
        _warn_some(source, offsets > STALE_TLE_DAYS,
                   f"TLEs have epochs more than {STALE_TLE_DAYS:.0f} days from the start {start.isoformat()} (worst "
                   f"{epochs[worst].isoformat()}, {offsets[worst]:,.0f} days); SGP4 positions degrade within days "
                   f"to weeks of the epoch")


def _warn_some(source: str, flags: np.ndarray, what: str) -> None:
    """One warning ``"<source>: k of n <what>"`` when any of the satellites is ``flags``-ed (to the caller's caller)."""
    if flags.any():
        warnings.warn(f"{source}: {int(flags.sum())} of {len(flags)} {what}", FedSpanWarning, stacklevel=3)


def _check_colocated(constellation: object, source: str, positions_km: np.ndarray) -> None:
    from scipy.spatial import cKDTree

    pos = np.asarray(positions_km, dtype=float)
    ok = np.flatnonzero(np.isfinite(pos).all(axis=1))
    if len(ok) < 2:
        return
    pairs = cKDTree(pos[ok]).query_pairs(COLOCATED_KM, output_type="ndarray")
    if len(pairs):
        a, b = (int(ok[i]) for i in pairs[0])
        names = list(getattr(constellation, "names", []))
        label = (lambda i: f"{i} ({names[i]})" if i < len(names) else str(i))
        raise ConstellationError(f"{source}: satellites {label(a)} and {label(b)} are at the same position at the "
                                 f"start ({np.linalg.norm(pos[a] - pos[b]):.3g} km apart; {len(pairs)} such "
                                 f"pair(s)): a duplicated orbit? Remove one of each pair")
