"""Coarse land/sea mask of the Earth, shipped with the package, for the background of map figures.

``fedspan/assets/land_mask.npz`` holds a 0.5 degree grid (360 x 720 cells, row 0 at the south pole,
column 0 at 180 W; a cell is land when at least half of it is), bit-packed: about 5 KB. It was built
once by ``tools/make_land_mask.py`` from the PyPI package ``global-land-mask`` 1.0.0 (MIT licence),
itself derived from NOAA NGDC's GLOBE v1.0 1 km elevation model (freely distributed U.S. government
data); see ``fedspan/assets/README.md``. Nothing is downloaded at run time.

>>> land = land_mask()
>>> land.shape, land.dtype
((360, 720), dtype('bool'))
>>> is_land([23.0, 0.0, -85.0], [13.0, -150.0, 0.0]).tolist()  # Sahara, mid-Pacific, Antarctica
[True, False, True]
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from fedspan.errors import FedSpanError
from fedspan.fileio import load_npz

#: Cell size of the shipped grid, degrees.
RESOLUTION_DEG = 0.5
SHAPE = (round(180 / RESOLUTION_DEG), round(360 / RESOLUTION_DEG))
_FILE = "land_mask.npz"
_MAX_BYTES = 1 << 20  # the packed grid is 16 KB


class LandMaskError(FedSpanError):
    """The shipped land mask file is damaged (a broken installation)."""


def _read(path) -> np.ndarray:
    """Unpack and check the mask file (no pickles; shape, size and resolution must match)."""
    try:  # through the capped reader: a damaged or replaced package file is one error line
        data = load_npz(path, max_bytes=_MAX_BYTES)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LandMaskError(f"{path}: damaged package file ({reason}); reinstall fedspan") from None
    if set(data) != {"packed", "shape", "resolution_deg"}:
        raise LandMaskError(f"{path}: unexpected arrays {sorted(data)}; reinstall fedspan")
    try:
        packed, shape, res = data["packed"], tuple(int(s) for s in data["shape"]), float(data["resolution_deg"])
    except (TypeError, ValueError):
        raise LandMaskError(f"{path}: damaged package file (bad shape or resolution); reinstall fedspan") from None
    cells = SHAPE[0] * SHAPE[1]
    if shape != SHAPE or res != RESOLUTION_DEG or packed.dtype != np.uint8 or packed.shape != (-(-cells // 8),):
        raise LandMaskError(f"{path}: not a {SHAPE} land mask at {RESOLUTION_DEG} deg "
                         f"(shape {shape}, resolution {res}, {packed.dtype} {packed.shape})")
    return np.unpackbits(packed, count=cells).astype(bool).reshape(SHAPE)


@lru_cache(maxsize=1)
def land_mask() -> np.ndarray:
    """The shipped land mask: ``bool`` array of :data:`SHAPE`, row 0 at 90 S, column 0 at 180 W.

    Cell ``(i, j)`` covers latitudes ``-90 + RESOLUTION_DEG * [i, i + 1]`` and longitudes
    ``-180 + RESOLUTION_DEG * [j, j + 1]``. The array is read-only (it is cached and shared).
    """
    mask = _read(resources.files("fedspan") / "assets" / _FILE)
    mask.flags.writeable = False
    return mask


def is_land(lat_deg, lon_deg) -> np.ndarray:
    """Whether each point (degrees; longitudes wrap) lies in a land cell of :func:`land_mask`.

    >>> bool(is_land(48.85, 2.35)), bool(is_land(48.85, 2.35 - 360.0))  # Paris, either way round
    (True, True)
    """
    lat = np.clip(np.asarray(lat_deg, float), -90.0, 90.0)
    lon = (np.asarray(lon_deg, float) + 180.0) % 360.0
    row = np.minimum(((lat + 90.0) / RESOLUTION_DEG).astype(int), SHAPE[0] - 1)
    col = np.minimum((lon / RESOLUTION_DEG).astype(int), SHAPE[1] - 1)
    return land_mask()[row, col]
