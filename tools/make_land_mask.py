"""Build ``fedspan/assets/land_mask.npz``, the coarse land mask under the forest map (run once, by hand).

Run: pip install global-land-mask==1.0.0 && python tools/make_land_mask.py [--resolution 0.5]

Source: the PyPI package ``global-land-mask`` 1.0.0 (Todd Karin, MIT licence), whose 1/120 degree
(about 1 km) ocean mask is derived from NOAA NGDC's GLOBE v1.0 digital elevation model (Hastings &
Dunbar 1999, freely distributed U.S. government data): a GLOBE cell with no elevation is sea. This
script reduces it to a ``resolution``-degree grid (a cell is land when at least half of its 1 km
cells are) and writes it bit-packed, so the package ships about 10 KB and never downloads anything.
Neither ``global-land-mask`` nor this script is needed at run time.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "fedspan" / "assets" / "land_mask.npz"
FINE_PER_DEG = 120  # GLOBE / global-land-mask: 30 arc-seconds


def source_mask_path() -> Path:
    """The ``globe_combined_mask_compressed.npz`` inside the installed ``global-land-mask``."""
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install global-land-mask==1.0.0 first (only this script needs it)")
    return Path(list(spec.submodule_search_locations)[0]) / "globe_combined_mask_compressed.npz"


def coarse_land(ocean: np.ndarray, resolution_deg: float) -> np.ndarray:
    """Land (True) on a ``resolution_deg`` grid, row 0 at the south pole and column 0 at 180 W.

    ``ocean`` is the fine mask, row 0 at 90 N and column 0 at 180 W (the layout of global-land-mask).
    """
    block = round(resolution_deg * FINE_PER_DEG)
    rows, cols = ocean.shape[0] // block, ocean.shape[1] // block
    land_fraction = np.empty((rows, cols))
    for i in range(rows):  # one band of rows at a time: the fine mask alone is ~930 MB
        band = ocean[i * block:(i + 1) * block]
        land_fraction[i] = 1.0 - band.reshape(block, cols, block).mean(axis=(0, 2))
    return np.flipud(land_fraction >= 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=float, default=0.5, help="cell size in degrees (divides 180)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with np.load(source_mask_path(), allow_pickle=False) as data:
        ocean = data["mask"]
    if ocean.shape != (180 * FINE_PER_DEG, 360 * FINE_PER_DEG):
        raise SystemExit(f"unexpected source mask shape {ocean.shape}")
    land = coarse_land(ocean, args.resolution)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, packed=np.packbits(land.ravel()), shape=np.array(land.shape, np.int64),
                        resolution_deg=np.float64(args.resolution))
    print(f"{args.out}: {land.shape} cells, {land.mean():.1%} land, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
