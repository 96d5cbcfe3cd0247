"""The Sun and the Earth's shadow: low-precision solar ephemeris, conical/cylindrical eclipse models.

Positions are geocentric, in km, in the TEME frame that `Constellation.propagate` returns, so the
shadow of a propagated constellation needs no frame rotation. The solar position comes from the
Astronomical Almanac's low-precision formula (about 0.01 deg from 1950 to 2050) [AA]_; the eclipse
models are those of Montenbruck & Gill, sec. 3.4 [MG]_: a cylinder (lit or not) and the conical
model with the apparent discs of the Sun and the Earth (umbra 0, penumbra between 0 and 1, sunlight 1).

References
----------
.. [AA] U.S. Naval Observatory and H.M. Nautical Almanac Office, *The Astronomical Almanac*,
   section C, "Low precision formulas for the Sun" (any edition since 1984); also
   D. A. Vallado, *Fundamentals of Astrodynamics and Applications*, 4th ed., Algorithm 29 (SUN), 2013.
.. [MG] O. Montenbruck and E. Gill, *Satellite Orbits: Models, Methods and Applications*,
   Springer, 2000, sec. 3.4.2 "Shadow function" (conical model, eqs. 3.85-3.87).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbits.errors import OrbitsError
from orbits.timebase import as_offsets, as_utc, timescale

__all__ = [
    "AU_KM",
    "EARTH_RADIUS_KM",
    "SUN_RADIUS_KM",
    "sun_position_km",
    "shadow_fraction",
    "sunlit_fraction",
]

#: Astronomical unit (IAU 2012 Resolution B2), km.
AU_KM = 149_597_870.7
#: Solar radius used by Montenbruck & Gill's shadow function, km.
SUN_RADIUS_KM = 696_000.0
#: Earth's equatorial radius (WGS-84), the sphere that casts the shadow, km.
EARTH_RADIUS_KM = 6378.137
_J2000 = 2451545.0
#: (time x satellite) samples per block in `shadow_fraction`: ~1M keeps temporaries near 100 MB.
_CHUNK_SAMPLES = 1_000_000


def _terrestrial_julian(start: datetime, offsets_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """TT Julian dates of start + offsets from Skyfield's built-in leap-second table (no download)."""
    start = as_utc(start)
    seconds = start.second + start.microsecond * 1e-6 + offsets_s
    times = timescale().utc(start.year, start.month, start.day, start.hour, start.minute, seconds)
    return np.atleast_1d(np.asarray(times.tt, dtype=np.float64))


def sun_position_km(start: datetime, offsets_s: ArrayLike) -> NDArray[np.float64]:
    """Geocentric position of the Sun (T, 3) in km, TEME frame, at start + offsets_s (seconds).

    The Astronomical Almanac's low-precision formula [AA]_, with n the days of TT from J2000.0::

        L = 280.460 + 0.9856474 n          mean longitude (aberration included), deg
        g = 357.528 + 0.9856003 n          mean anomaly, deg
        lambda = L + 1.915 sin g + 0.020 sin 2g       ecliptic longitude, deg (latitude 0)
        epsilon = 23.439 - 0.0000004 n     obliquity of the ecliptic, deg
        R = 1.00014 - 0.01671 cos g - 0.00014 cos 2g  distance, AU

    and (x, y, z) = R (cos lambda, cos epsilon sin lambda, sin epsilon sin lambda) on the equator and
    equinox of date. The formula is good to about 0.01 deg in 1950-2050; nutation (< 0.005 deg), the
    only difference between that frame and SGP4's TEME ("true equator, mean equinox"), is below it.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> sun = sun_position_km(datetime(2024, 3, 20, 3, 6, tzinfo=timezone.utc), [0.0])  # March equinox
    >>> round(float(np.degrees(np.arcsin(sun[0, 2] / np.linalg.norm(sun[0])))), 2)  # declination, deg
    0.0
    >>> round(float(np.linalg.norm(sun[0]) / AU_KM), 3)
    0.996
    """
    offsets = as_offsets(offsets_s)
    days = _terrestrial_julian(start, offsets) - _J2000
    mean_longitude = np.radians((280.460 + 0.9856474 * days) % 360.0)
    anomaly = np.radians((357.528 + 0.9856003 * days) % 360.0)
    longitude = mean_longitude + np.radians(1.915 * np.sin(anomaly) + 0.020 * np.sin(2.0 * anomaly))
    obliquity = np.radians(23.439 - 0.0000004 * days)
    distance_km = (1.00014 - 0.01671 * np.cos(anomaly) - 0.00014 * np.cos(2.0 * anomaly)) * AU_KM
    sin_longitude = np.sin(longitude)
    return np.stack(
        (
            distance_km * np.cos(longitude),
            distance_km * np.cos(obliquity) * sin_longitude,
            distance_km * np.sin(obliquity) * sin_longitude,
        ),
        axis=-1,
    )


def _conical_block(positions: NDArray[np.float64], sun: NDArray[np.float64]) -> NDArray[np.float64]:
    """Montenbruck & Gill's conical shadow function for one time block: (t, N, 3), (t, 3) -> (t, N)."""
    radius2 = np.einsum("tnk,tnk->tn", positions, positions)
    dot = np.einsum("tnk,tk->tn", positions, sun)
    sun2 = np.einsum("tk,tk->t", sun, sun)[:, None]
    # Satellite-to-Sun distance from |s - r|^2 = |s|^2 - 2 r.s + |r|^2, without a (t, N, 3) temporary.
    radius = np.sqrt(radius2)
    to_sun = np.sqrt(sun2 - 2.0 * dot + radius2)
    # Apparent radii a (Sun) and b (Earth) as seen from the satellite, and the separation c of their
    # centres: cos c = (-r).(s - r) / (|r| |s - r|).
    sin_a = SUN_RADIUS_KM / to_sun
    sin_b = np.minimum(EARTH_RADIUS_KM / radius, 1.0)
    cos_a = np.sqrt(1.0 - sin_a * sin_a)
    cos_b = np.sqrt(1.0 - sin_b * sin_b)
    cos_c = (radius2 - dot) / (radius * to_sun)
    # Compare cosines first (c in [0, pi] and a + b < pi): only penumbral samples need the angles.
    lit = cos_c <= cos_a * cos_b - sin_a * sin_b  # c >= a + b
    # c <= b - a (umbra) when b > a, c <= a - b (annular: the Earth inside the solar disc) otherwise.
    inner = cos_c >= cos_a * cos_b + sin_a * sin_b  # c <= |a - b|
    fraction = np.where(lit, 1.0, 0.0)
    annular = inner & (sin_a > sin_b)
    if annular.any():
        # The whole Earth disc in front of the Sun's: the lost fraction is the ratio of disc areas.
        a = np.arcsin(sin_a[annular])
        b = np.arcsin(sin_b[annular])
        fraction[annular] = 1.0 - (b / a) ** 2
    partial = ~(lit | inner)
    if partial.any():
        a = np.arcsin(sin_a[partial])
        b = np.arcsin(sin_b[partial])
        c = np.arccos(np.clip(cos_c[partial], -1.0, 1.0))
        # Area of the overlap of two discs of radii a, b at distance c (M&G eq. 3.86).
        x = (c * c + a * a - b * b) / (2.0 * c)
        y = np.sqrt(np.maximum(a * a - x * x, 0.0))
        overlap = a * a * np.arccos(np.clip(x / a, -1.0, 1.0)) + b * b * np.arccos(np.clip((c - x) / b, -1.0, 1.0)) - c * y
        fraction[partial] = np.clip(1.0 - overlap / (np.pi * a * a), 0.0, 1.0)
    return fraction


def _cylindrical_block(positions: NDArray[np.float64], sun: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cylindrical shadow (M&G sec. 3.4.1) for one time block: 0 behind the Earth within its radius, else 1."""
    unit = sun / np.linalg.norm(sun, axis=-1, keepdims=True)
    along = np.einsum("tnk,tk->tn", positions, unit)
    radius2 = np.einsum("tnk,tnk->tn", positions, positions)
    behind = (along < 0.0) & (radius2 - along * along < EARTH_RADIUS_KM * EARTH_RADIUS_KM)
    return np.where(behind, 0.0, 1.0)


def shadow_fraction(
    positions_km: ArrayLike, sun_km: ArrayLike, model: Literal["cone", "cylinder"] = "cone"
) -> NDArray[np.float64]:
    """Fraction of the solar disc each satellite sees (T, N): 1 in sunlight, 0 in umbra.

    `positions_km` (T, N, 3) and `sun_km` (T, 3) are geocentric, in the same frame (TEME from
    `Constellation.propagate` and `sun_position_km`). ``model="cone"`` is the conical model of
    Montenbruck & Gill, sec. 3.4.2 [MG]_: with the apparent radii a = asin(R_sun / |s - r|) of the Sun
    and b = asin(R_earth / |r|) of the Earth and the angle c between their centres, the fraction is 1
    for c >= a + b, 0 for c <= b - a (umbra) and 1 - A / (pi a^2) in between (penumbra), where A is the
    area of the overlap of the two discs. ``model="cylinder"`` is the cylindrical model (0 or 1).
    The Earth is a sphere of the WGS-84 equatorial radius; refraction and the atmosphere's
    absorption are neglected. NaN positions (SGP4 failures) give NaN. Computed in time blocks of about
    a million samples, so memory stays bounded for any T x N.

    Examples
    --------
    >>> sun = np.array([[AU_KM, 0.0, 0.0]])
    >>> limb = [-7000.0, EARTH_RADIUS_KM, 0.0]  # the Sun's centre on the Earth's limb: half the disc hidden
    >>> sats = np.array([[[7000.0, 0.0, 0.0], [-7000.0, 0.0, 0.0], limb, [np.nan] * 3]])
    >>> [round(float(v), 2) for v in shadow_fraction(sats, sun)[0]]
    [1.0, 0.0, 0.49, nan]
    >>> shadow_fraction(sats[:, :2], sun, model="cylinder").tolist()
    [[1.0, 0.0]]
    """
    positions = np.asarray(positions_km, dtype=np.float64)
    sun = np.asarray(sun_km, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise OrbitsError(f"positions_km must have shape (T, N, 3), got {positions.shape}")
    if sun.shape != (positions.shape[0], 3):
        raise OrbitsError(f"sun_km must have shape ({positions.shape[0]}, 3) to match positions, got {sun.shape}")
    if not np.all(np.isfinite(sun)):
        raise OrbitsError("sun_km has non-finite values")
    # A unit vector or a position in AU would pass the shape check and give a meaningless shadow.
    distance = np.linalg.norm(sun, axis=-1)
    if np.any(distance < 0.9 * AU_KM) or np.any(distance > 1.1 * AU_KM):
        index = int(np.flatnonzero((distance < 0.9 * AU_KM) | (distance > 1.1 * AU_KM))[0])
        raise OrbitsError(f"sun_km[{index}] is {distance[index]:.6g} km from the Earth; expected ~1 AU ({AU_KM:.6g} km)")
    blocks = {"cone": _conical_block, "cylinder": _cylindrical_block}
    if model not in blocks:
        raise OrbitsError(f"shadow model must be 'cone' or 'cylinder', got {model!r}")
    block = blocks[model]
    count, sats = positions.shape[:2]
    fraction = np.empty((count, sats), dtype=np.float64)
    step = max(1, _CHUNK_SAMPLES // max(sats, 1))
    for begin in range(0, count, step):
        chunk = positions[begin : begin + step]
        # Hide NaN rows from the arithmetic (no warnings) and mark them afterwards.
        bad = np.isnan(chunk).any(axis=-1)
        if bad.any():
            chunk = np.where(bad[..., None], EARTH_RADIUS_KM * 2.0, chunk)
        part = block(chunk, sun[begin : begin + step])
        part[bad] = np.nan
        fraction[begin : begin + step] = part
    return fraction


def sunlit_fraction(
    constellation,  # noqa: ANN001 - orbits.Constellation; not imported here to keep the module light
    start: datetime | None,
    t0_s: float,
    t1_s: float,
    step_s: float = 60.0,
    model: Literal["cone", "cylinder"] = "cone",
) -> NDArray[np.float64]:
    """Mean illuminated fraction (N,) of each satellite over [start + t0_s, start + t1_s].

    The interval is cut into ceil((t1 - t0) / step_s) equal parts and `shadow_fraction` is sampled at
    their midpoints (the midpoint rule: a shadow boundary costs at most half a part of error), so
    ``fraction * (t1_s - t0_s)`` is the sunlit time for `orbits.power.round_budget_j`. Samples where
    SGP4 fails are left out of a satellite's mean; a satellite with no valid sample gets NaN. With
    t1_s == t0_s it is the fraction at that instant. `start` None means `constellation.epoch`.
    Propagation runs in time chunks, so long intervals stay in bounded memory.

    Examples
    --------
    >>> from orbits import Constellation
    >>> small = Constellation.from_preset("small")
    >>> lit = sunlit_fraction(small, None, 0.0, 5760.0)  # one 96 min orbit
    >>> lit.shape, bool(np.all((lit > 0.62) & (lit < 0.87)))  # eclipses of 13-38 %, by plane (beta angle)
    ((66,), True)

    References: see the module docstring ([AA]_ for the Sun, [MG]_ for the conical shadow).
    """
    for name, value in (("t0_s", t0_s), ("t1_s", t1_s), ("step_s", step_s)):
        if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)):
            raise OrbitsError(f"sunlit_fraction: {name} must be a finite number of seconds, got {value!r}")
    if t1_s < t0_s:
        raise OrbitsError(f"sunlit_fraction: t1_s {t1_s} is before t0_s {t0_s}")
    if step_s <= 0:
        raise OrbitsError(f"sunlit_fraction: step_s must be > 0, got {step_s}")
    parts = max(1, math.ceil((t1_s - t0_s) / step_s))
    width = (t1_s - t0_s) / parts
    offsets = t0_s + width * (np.arange(parts) + 0.5)
    start = constellation.epoch if start is None else as_utc(start)
    total = np.zeros(len(constellation))
    samples = np.zeros(len(constellation))
    for chunk in constellation.propagate_chunks(start, offsets):
        fraction = shadow_fraction(chunk.positions_km, sun_position_km(start, chunk.offsets_s))
        valid = ~np.isnan(fraction)
        total += np.where(valid, fraction, 0.0).sum(axis=0)
        samples += valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(samples > 0, total / np.maximum(samples, 1), np.nan)
