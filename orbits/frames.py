"""Reference frames: TEME -> Earth-fixed rotation (GMST 1982) and WGS-84 geodetic conversions."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["WGS84_A_KM", "WGS84_F", "gmst1982_rad", "teme_to_ecef", "ecef_to_geodetic", "geodetic_to_ecef"]

WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
_E2 = WGS84_F * (2.0 - WGS84_F)
_J2000 = 2451545.0


def gmst1982_rad(ut1_whole: NDArray[np.float64], ut1_fraction: NDArray[np.float64]) -> NDArray[np.float64]:
    """Greenwich mean sidereal angle of the 1982 model, the rotation SGP4's TEME frame is defined by.

    The IAU 1982 GMST polynomial in UT1 Julian centuries from J2000 [1]_; TEME ("true equator, mean
    equinox") of SGP4 is defined by this angle [2]_.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(np.degrees(gmst1982_rad(np.array([2451545.0]), np.array([0.0]))[0])), 4)  # J2000.0
    280.4606

    References
    ----------
    .. [1] S. Aoki, B. Guinot, G. H. Kaplan, H. Kinoshita, D. D. McCarthy and P. K. Seidelmann,
       "The new definition of universal time", Astronomy and Astrophysics 105, 359-361, 1982.
    .. [2] D. A. Vallado, P. Crawford, R. Hujsak and T. S. Kelso, "Revisiting Spacetrack Report #3",
       AIAA/AAS Astrodynamics Specialist Conference, AIAA 2006-6753, 2006.
    """
    centuries = (ut1_whole - _J2000 + ut1_fraction) / 36525.0
    seconds = 67310.54841 + (8640184.812866 + (0.093104 - 6.2e-6 * centuries) * centuries) * centuries
    # Day fractions are summed before taking the angle so no precision is lost on the large JD.
    turns = (ut1_whole % 1.0 + ut1_fraction + seconds / 86400.0 % 1.0) % 1.0
    return turns * 2.0 * np.pi


def teme_to_ecef(
    positions_km: NDArray[np.float64], ut1_whole: NDArray[np.float64], ut1_fraction: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Rotate (T, N, 3) TEME positions into the Earth-fixed frame (polar motion neglected, < 20 m)."""
    theta = gmst1982_rad(ut1_whole, ut1_fraction)
    cos_t = np.cos(theta)[:, None]
    sin_t = np.sin(theta)[:, None]
    x, y, z = positions_km[..., 0], positions_km[..., 1], positions_km[..., 2]
    return np.stack((cos_t * x + sin_t * y, -sin_t * x + cos_t * y, z), axis=-1)


def ecef_to_geodetic(ecef_km: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
    """WGS-84 latitude (deg), longitude (deg, -180..180) and height (km) of Earth-fixed points."""
    x, y, z = ecef_km[..., 0], ecef_km[..., 1], ecef_km[..., 2]
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - _E2))
    # Fixed-point iteration on latitude converges to < 1e-12 rad within a few steps for LEO heights.
    for _ in range(5):
        sin_lat = np.sin(lat)
        n = WGS84_A_KM / np.sqrt(1.0 - _E2 * sin_lat**2)
        height = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - _E2 * n / (n + height)))
    sin_lat = np.sin(lat)
    n = WGS84_A_KM / np.sqrt(1.0 - _E2 * sin_lat**2)
    height = p * np.cos(lat) + z * sin_lat - n * (1.0 - _E2 * sin_lat**2)
    return np.degrees(lat), np.degrees(np.arctan2(y, x)), height


def geodetic_to_ecef(lat_deg: NDArray, lon_deg: NDArray, height_km: NDArray) -> NDArray[np.float64]:
    """Earth-fixed (..., 3) position in km of WGS-84 geodetic coordinates.

    >>> xyz = geodetic_to_ecef(45.0, 7.0, 0.55)
    >>> [round(float(v), 6) for v in ecef_to_geodetic(xyz)]  # and back
    [45.0, 7.0, 0.55]
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    height = np.asarray(height_km, dtype=np.float64)
    n = WGS84_A_KM / np.sqrt(1.0 - _E2 * np.sin(lat) ** 2)
    return np.stack(
        (
            (n + height) * np.cos(lat) * np.cos(lon),
            (n + height) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - _E2) + height) * np.sin(lat),
        ),
        axis=-1,
    )
