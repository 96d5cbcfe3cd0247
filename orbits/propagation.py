"""Vectorized SGP4 propagation of N satellites x T times, chunked over time to bound memory."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sgp4.api import SatrecArray

from orbits.frames import ecef_to_geodetic, teme_to_ecef
from orbits.timebase import as_offsets, as_utc, ut1_julian, utc_julian, warn_if_sgp4_slow

__all__ = ["Propagation", "propagate", "propagate_chunks", "DEFAULT_CHUNK_STATES"]

#: Satellite-states per chunk: ~2M states keep positions + velocities under ~100 MB.
DEFAULT_CHUNK_STATES = 2_000_000


@dataclass
class Propagation:
    """SGP4 states over a time grid: TEME positions/velocities (T, N, 3) and validity (T, N)."""

    start: datetime
    offsets_s: NDArray[np.float64]
    positions_km: NDArray[np.float64]
    velocities_km_s: NDArray[np.float64]
    valid: NDArray[np.bool_]
    error_codes: NDArray[np.int8]

    @functools.cached_property
    def positions_ecef_km(self) -> NDArray[np.float64]:
        """Earth-fixed (ITRS-like, no polar motion) positions (T, N, 3) in km."""
        whole, fraction = ut1_julian(self.start, self.offsets_s)
        return teme_to_ecef(self.positions_km, whole, fraction)

    def subpoints(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS-84 geodetic latitude and longitude (degrees) of the sub-satellite points, each (T, N)."""
        lat, lon, _ = ecef_to_geodetic(self.positions_ecef_km)
        return lat, lon

    def altitudes_km(self) -> NDArray[np.float64]:
        """WGS-84 height above the ellipsoid (T, N) in km."""
        return ecef_to_geodetic(self.positions_ecef_km)[2]


def _propagate_block(satrecs: SatrecArray, start: datetime, offsets: NDArray[np.float64]) -> Propagation:
    """One SGP4 call for all satellites and the given times, reshaped to time-major."""
    whole, fraction = utc_julian(start, offsets)
    errors, positions, velocities = satrecs.sgp4(whole, fraction)
    valid = (errors == 0).T
    positions = np.ascontiguousarray(positions.transpose(1, 0, 2))
    velocities = np.ascontiguousarray(velocities.transpose(1, 0, 2))
    # SGP4 leaves garbage or NaN on failure; make every invalid state NaN so misuse is loud.
    positions[~valid] = np.nan
    velocities[~valid] = np.nan
    return Propagation(start, offsets, positions, velocities, np.ascontiguousarray(valid), errors.T.astype(np.int8))


def propagate_chunks(
    satrecs: SatrecArray, start: datetime, offsets_s: ArrayLike, chunk_states: int = DEFAULT_CHUNK_STATES
) -> Iterator[Propagation]:
    """Yield consecutive time chunks of the propagation so long horizons stay in bounded memory."""
    warn_if_sgp4_slow()
    start = as_utc(start)
    offsets = as_offsets(offsets_s)
    count = max(len(satrecs), 1)
    step = max(1, chunk_states // count)
    for begin in range(0, len(offsets), step):
        yield _propagate_block(satrecs, start, offsets[begin : begin + step])


def propagate(satrecs: SatrecArray, start: datetime, offsets_s: ArrayLike) -> Propagation:
    """Propagate all satellites at start + offsets_s (seconds) in one Propagation (T, N, ...).

    SGP4 [1]_ in the revised form of Vallado et al. [2]_, through the ``sgp4`` package's vectorised
    ``SatrecArray``; positions are in the TEME frame (see :func:`orbits.frames.teme_to_ecef`).

    Examples
    --------
    >>> from sgp4.api import Satrec, SatrecArray
    >>> from orbits.walker import DEFAULT_EPOCH, WalkerSpec, walker_delta
    >>> tles = walker_delta(WalkerSpec(53.0, 12, 3, 1, 550.0))
    >>> sats = SatrecArray([Satrec.twoline2rv(t.line1, t.line2) for t in tles])
    >>> run = propagate(sats, DEFAULT_EPOCH, [0.0, 60.0])
    >>> run.positions_km.shape, bool(run.valid.all())
    ((2, 12, 3), True)

    References
    ----------
    .. [1] F. R. Hoots and R. L. Roehrich, "Models for propagation of NORAD element sets",
       Spacetrack Report No. 3, U.S. Air Force Aerospace Defense Command, 1980.
    .. [2] D. A. Vallado, P. Crawford, R. Hujsak and T. S. Kelso, "Revisiting Spacetrack Report #3",
       AIAA/AAS Astrodynamics Specialist Conference, AIAA 2006-6753, 2006.
    """
    parts = list(propagate_chunks(satrecs, start, offsets_s))
    if len(parts) == 1:
        return parts[0]
    return Propagation(
        parts[0].start,
        np.concatenate([p.offsets_s for p in parts]),
        np.concatenate([p.positions_km for p in parts]),
        np.concatenate([p.velocities_km_s for p in parts]),
        np.concatenate([p.valid for p in parts]),
        np.concatenate([p.error_codes for p in parts]),
    )
