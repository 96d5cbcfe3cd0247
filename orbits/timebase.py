"""Time handling without downloads: UTC Julian dates for SGP4 and UT1 from Skyfield's built-in tables."""

from __future__ import annotations

import functools
import warnings
from datetime import datetime, timezone

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbits.errors import OrbitsError, OrbitsWarning

__all__ = ["as_utc", "as_offsets", "timescale", "utc_julian", "ut1_julian", "warn_if_sgp4_slow"]

_JD_UNIX_EPOCH = 2440587.5
_DAY_S = 86400.0


def as_utc(moment: datetime) -> datetime:
    """Return `moment` in UTC; naive datetimes are refused because their zone is a guess."""
    if not isinstance(moment, datetime):
        raise OrbitsError(f"start time must be a datetime, got {type(moment).__name__}: {moment!r}")
    if moment.tzinfo is None:
        raise OrbitsError(f"start time {moment.isoformat()} is naive; give a timezone-aware UTC datetime")
    return moment.astimezone(timezone.utc)


def as_offsets(offsets_s: ArrayLike) -> NDArray[np.float64]:
    """Validate time offsets in seconds: a finite 1-D float array."""
    try:
        offsets = np.atleast_1d(np.asarray(offsets_s, dtype=np.float64))
    except (TypeError, ValueError):
        raise OrbitsError(f"time offsets must be numbers (seconds), got {offsets_s!r}") from None
    if offsets.ndim != 1 or not np.all(np.isfinite(offsets)):
        raise OrbitsError(f"time offsets must be a finite 1-D array of seconds, got shape {offsets.shape}")
    return offsets


@functools.cache
def timescale():  # noqa: ANN201 - Skyfield's Timescale type is not worth importing at module load
    """Skyfield timescale from the built-in leap-second / Delta T tables (never downloads)."""
    from skyfield.api import load

    return load.timescale(builtin=True)


def utc_julian(start: datetime, offsets_s: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Split UTC Julian dates (whole day part, fraction) of start + offsets, as SGP4 expects them."""
    start = as_utc(start)
    start_jd = _JD_UNIX_EPOCH + start.timestamp() / _DAY_S
    whole0 = np.floor(start_jd - 0.5) + 0.5
    # Keep the large whole-day part separate so that the fraction carries microsecond precision.
    fraction = (start_jd - whole0) + offsets_s / _DAY_S
    shift = np.floor(fraction)
    return whole0 + shift, fraction - shift


def ut1_julian(start: datetime, offsets_s: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """UT1 Julian dates (whole, fraction) using the built-in DUT1 table; needed for Earth rotation."""
    whole, fraction = utc_julian(start, offsets_s)
    start = as_utc(start)
    ts = timescale()
    seconds = start.second + start.microsecond * 1e-6 + offsets_s
    times = ts.utc(start.year, start.month, start.day, start.hour, start.minute, seconds)
    return whole, fraction + np.asarray(times.dut1, dtype=np.float64) / _DAY_S


@functools.cache
def warn_if_sgp4_slow() -> bool:
    """Warn once when sgp4's compiled core is missing (the pure-Python fallback is ~100x slower)."""
    from sgp4.api import accelerated

    if not accelerated:
        warnings.warn("sgp4.api.accelerated is False: SGP4 runs in pure Python and will be slow", OrbitsWarning)
    return bool(accelerated)
