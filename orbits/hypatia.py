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

__all__ = ["export_satgenpy", "satgenpy_shape", "satgenpy_isl_pairs", "wgs72_geodetic_to_ecef_m"]

# satgenpy's geodetic2cartesian uses the WGS-72 ellipsoid (SGP4's own), not WGS-84.
WGS72_A_M = 6378135.0
WGS72_F = 1.0 / 298.26


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


def wgs72_geodetic_to_ecef_m(lat_deg: float, lon_deg: float, elevation_m: float) -> tuple[float, float, float]:
    """Earth-fixed (x, y, z) in metres of a WGS-72 geodetic point, as satgenpy's extended
    ground_stations.txt carries it."""
    e2 = WGS72_F * (2.0 - WGS72_F)
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    n = WGS72_A_M / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    return (
        float((n + elevation_m) * np.cos(lat) * np.cos(lon)),
        float((n + elevation_m) * np.cos(lat) * np.sin(lon)),
        float((n * (1.0 - e2) + elevation_m) * np.sin(lat)),
    )


def satgenpy_isl_pairs(isl_edges: NDArray[np.int64], num_satellites: int) -> NDArray[np.int64]:
    """Undirected ISLs as satgenpy's isls.txt wants them: (a, b) with a < b, each pair once, sorted."""
    edges = np.asarray(isl_edges, dtype=np.int64).reshape(-1, 2)
    if len(edges) and (edges.min() < 0 or edges.max() >= num_satellites or np.any(edges[:, 0] == edges[:, 1])):
        raise OrbitsError(f"ISL edges must join distinct satellites in 0..{num_satellites - 1}")
    return np.unique(np.sort(edges, axis=1), axis=0).reshape(-1, 2)


def _number(value: float) -> str:
    """Shortest round-trip decimal without an exponent (satgenpy hands latitudes to ephem as strings)."""
    return np.format_float_positional(float(value), trim="-")


def _ground_stations_text(ground_stations: Sequence[GroundStation]) -> str:
    """satgenpy's extended ground_stations.txt: 'id,name,lat,lon,elevation_m,x_m,y_m,z_m' per line."""
    lines = []
    for gid, gs in enumerate(ground_stations):
        name = " ".join(gs.name.replace(",", " ").split()) or f"GS{gid}"
        elevation_m = gs.alt_km * 1000.0
        xyz = wgs72_geodetic_to_ecef_m(gs.lat_deg, gs.lon_deg, elevation_m)
        fields = [str(gid), name, *(_number(v) for v in (gs.lat_deg, gs.lon_deg, elevation_m, *xyz))]
        lines.append(",".join(fields) + "\n")
    return "".join(lines)


def export_satgenpy(
    directory: str | Path,
    constellation: Constellation,
    isl_edges: NDArray[np.int64],
    ground_stations: Sequence[GroundStation] = (),
    name: str = "Fedspan",
) -> list[Path]:
    """Write tles.txt, isls.txt and ground_stations.txt as satgenpy reads them.

    - tles.txt: 'n_orbits n_sats_per_orbit', then per satellite '<name> <id>' and its two TLE lines
      (ids 0.. in order).
    - isls.txt: 'a b' per undirected ISL with a < b, each pair once, sorted (duplicates and reversed
      copies in ``isl_edges`` are merged).
    - ground_stations.txt: the extended format 'id,name,lat,lon,elevation_m,x,y,z' (ids 0..; x, y, z
      Earth-fixed metres on the WGS-72 ellipsoid, as satgenpy computes them; commas in names
      become spaces).

    satgenpy requires one common TLE epoch; files whose TLEs have different epochs are written
    anyway (for inspection) but satgenpy will refuse them.

    References
    ----------
    .. [1] S. Kassing, D. Bhattacherjee, A. B. Aguas, J. E. Saethre and A. Singla, "Exploring the
       'Internet from space' with Hypatia", ACM Internet Measurement Conference (IMC), 2020.
    """
    if not name or any(ch.isspace() for ch in name):
        raise OrbitsError(f"satgenpy satellite name prefix {name!r} must be non-empty without spaces")
    pairs = satgenpy_isl_pairs(isl_edges, len(constellation))
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = [directory / "tles.txt", directory / "isls.txt", directory / "ground_stations.txt"]
        written[0].write_text(_tles_text(constellation.tles, satgenpy_shape(constellation), name), encoding="utf-8")
        written[1].write_text("".join(f"{a} {b}\n" for a, b in pairs.tolist()), encoding="utf-8")
        written[2].write_text(_ground_stations_text(ground_stations), encoding="utf-8")
    except OSError as exc:
        raise OrbitsError(f"cannot write satgenpy files to {directory}: {exc.strerror or exc}") from None
    return written
