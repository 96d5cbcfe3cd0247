"""Line-of-sight geometry of links between points around a spherical Earth."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["segment_min_radius_km", "clears_earth"]


def segment_min_radius_km(a_km: NDArray[np.float64], b_km: NDArray[np.float64]) -> NDArray[np.float64]:
    """Smallest distance from the Earth's centre to the segments a-b (broadcast over leading axes)."""
    ab = b_km - a_km
    length2 = np.einsum("...i,...i->...", ab, ab)
    # Parameter of the closest point on the infinite line, clamped onto the segment.
    t = np.clip(-np.einsum("...i,...i->...", a_km, ab) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    closest = a_km + t[..., None] * ab
    return np.sqrt(np.einsum("...i,...i->...", closest, closest))


def clears_earth(a_km: NDArray[np.float64], b_km: NDArray[np.float64], min_radius_km: float) -> NDArray[np.bool_]:
    """True where the whole segment a-b stays at least `min_radius_km` from the Earth's centre."""
    return segment_min_radius_km(a_km, b_km) >= min_radius_km
