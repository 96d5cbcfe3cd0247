"""Export a scenario in Hypatia's satgenpy input formats (tles.txt, isls.txt, ground_stations.txt)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from orbits.constellation import Constellation
from orbits.errors import OrbitsError
from orbits.ground import GroundStation
from orbits.tle import TLE

__all__ = ["export_satgenpy", "satgenpy_shape"]


def satgenpy_shape(constellation: Constellation) -> tuple[int, int]:
    """(n_orbits, n_sats_per_orbit) for tles.txt: the plane grid if planes are uniform and
    satellites are stored plane by plane, otherwise (1, N)."""
    planes = constellation.plane_ids
    counts = np.bincount(planes)
    per_plane = int(counts[0])
    plane_major = bool(np.all(np.diff(planes) >= 0))
    if np.all(counts == per_plane) and plane_major:
        return len(counts), per_plane
    return 1, len(constellation)


def _tles_text(tles: Sequence[TLE], shape: tuple[int, int], name: str) -> str:
    """satgenpy tles.txt: a 'n_orbits n_sats_per_orbit' header, then 3-line TLEs named '<name> <index>'."""
    lines = [f"{shape[0]} {shape[1]}"]
    for index, tle in enumerate(tles):
        lines.extend((f"{name} {index}", tle.line1, tle.line2))
    return "\n".join(lines) + "\n"


def export_satgenpy(
    directory: str | Path,
    constellation: Constellation,
    isl_edges: NDArray[np.int64],
    ground_stations: Sequence[GroundStation] = (),
    name: str = "Fedspan",
) -> list[Path]:
    """Write tles.txt, isls.txt ('i j' per line) and ground_stations.txt ('id,name,lat,lon,elev_m').

    satgenpy requires one common TLE epoch; files whose TLEs have different epochs are written
    anyway (for inspection) but satgenpy will refuse them.
    """
    if " " in name or not name:
        raise OrbitsError(f"satgenpy satellite name prefix {name!r} must be non-empty without spaces")
    edges = np.asarray(isl_edges, dtype=np.int64).reshape(-1, 2)
    if len(edges) and (edges.min() < 0 or edges.max() >= len(constellation) or np.any(edges[:, 0] == edges[:, 1])):
        raise OrbitsError(f"ISL edges must join distinct satellites in 0..{len(constellation) - 1}")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = [directory / "tles.txt", directory / "isls.txt", directory / "ground_stations.txt"]
        written[0].write_text(_tles_text(constellation.tles, satgenpy_shape(constellation), name), encoding="utf-8")
        written[1].write_text("".join(f"{min(i, j)} {max(i, j)}\n" for i, j in edges.tolist()), encoding="utf-8")
        written[2].write_text(
            "".join(
                f"{gid},{gs.name.replace(',', ' ')},{gs.lat_deg!r},{gs.lon_deg!r},{gs.alt_km * 1000.0!r}\n"
                for gid, gs in enumerate(ground_stations)
            ),
            encoding="utf-8",
        )
    except OSError as exc:
        raise OrbitsError(f"cannot write satgenpy files to {directory}: {exc.strerror or exc}") from None
    return written
