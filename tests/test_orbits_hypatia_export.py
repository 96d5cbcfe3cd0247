"""The Hypatia (satgenpy) export, checked against the file formats as satgenpy's readers parse them:

- tles.txt: a header 'n_orbits n_sats_per_orbit', then 3-line entries; the second token of the name
  line is the satellite id, increasing by one from 0; all TLE epochs equal.
- isls.txt: 'a b' per line, both ids of existing satellites, a < b, no pair twice.
- ground_stations.txt (extended): 8 comma-separated fields 'id,name,lat,lon,elevation_m,x,y,z', ids
  increasing by one from 0; x, y, z Earth-fixed metres on the WGS-72 ellipsoid.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cli_run import run_cli
from orbits.constellation import Constellation
from orbits.errors import OrbitsError
from orbits.ground import GroundStation
from orbits.hypatia import export_satgenpy, satgenpy_isl_pairs, wgs72_geodetic_to_ecef_m

STATIONS = [GroundStation("Zurich", 47.3769, 8.5417, 0.408), GroundStation("Sydney, NSW", -33.8688, 151.2093, 0.058)]


# --- a small reader written to satgenpy's format spec ---------------------------------------------
def parse_tles(path: Path) -> tuple[int, int, list[tuple[str, str, str]]]:
    lines = path.read_text().split("\n")
    assert lines[-1] == "", "file ends with a newline"
    lines = lines[:-1]
    header = lines[0].split()
    assert len(header) == 2
    n_orbits, per_orbit = int(header[0]), int(header[1])
    body = lines[1:]
    assert len(body) % 3 == 0
    entries = [tuple(body[i:i + 3]) for i in range(0, len(body), 3)]
    epochs = set()
    for sid, (name, line1, line2) in enumerate(entries):
        assert int(name.split()[1]) == sid, "ids increase by one from 0"
        assert line1.startswith("1 ") and line2.startswith("2 ") and len(line1) == len(line2) == 69
        for line in (line1, line2):  # TLE checksum (ephem.readtle verifies it)
            digits = sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")
            assert digits % 10 == int(line[68])
        epochs.add(line1[18:32])
    assert len(epochs) <= 1, "satgenpy needs one common epoch"
    return n_orbits, per_orbit, entries


def parse_isls(path: Path, num_satellites: int) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    seen = set()
    for line in path.read_text().splitlines():
        fields = line.split()
        assert len(fields) == 2 and all(f.isdigit() for f in fields), line
        a, b = int(fields[0]), int(fields[1])
        assert a < b < num_satellites, line
        assert (a, b) not in seen, f"duplicate ISL {line}"
        seen.add((a, b))
        pairs.append((a, b))
    return pairs


def parse_ground_stations_extended(path: Path) -> list[dict]:
    stations = []
    for gid, line in enumerate(path.read_text().splitlines()):
        fields = line.split(",")
        assert len(fields) == 8, line
        assert int(fields[0]) == gid
        for text in fields[2:4]:  # satgenpy hands latitude strings to ephem: plain decimals only
            assert "e" not in text.lower()
        stations.append({"name": fields[1], "lat": float(fields[2]), "lon": float(fields[3]),
                         "elevation_m": float(fields[4]), "xyz": tuple(float(f) for f in fields[5:8])})
    return stations


# --- library ----------------------------------------------------------------------------------------
def test_export_files_parse_as_satgenpy_does(tmp_path: Path) -> None:
    con = Constellation.from_preset("small")
    n = len(con)
    # Edges in both directions and repeated: satgenpy rejects them unless merged.
    edges = np.array([[1, 0], [0, 1], [0, 1], [5, 3], [10, 65], [65, 10], [2, 7]])
    files = export_satgenpy(tmp_path, con, edges, STATIONS, name="Small")
    assert [f.name for f in files] == ["tles.txt", "isls.txt", "ground_stations.txt"]

    n_orbits, per_orbit, entries = parse_tles(files[0])
    assert (n_orbits, per_orbit) == (6, 11) and n_orbits * per_orbit == len(entries) == n
    assert [e[0] for e in entries] == [f"Small {i}" for i in range(n)]

    pairs = parse_isls(files[1], n)
    assert pairs == [(0, 1), (2, 7), (3, 5), (10, 65)]

    stations = parse_ground_stations_extended(files[2])
    assert [s["name"] for s in stations] == ["Zurich", "Sydney NSW"]
    for parsed, station in zip(stations, STATIONS):
        assert (parsed["lat"], parsed["lon"]) == (station.lat_deg, station.lon_deg)
        assert parsed["elevation_m"] == pytest.approx(station.alt_km * 1000.0)
        assert parsed["xyz"] == pytest.approx(
            wgs72_geodetic_to_ecef_m(station.lat_deg, station.lon_deg, station.alt_km * 1000.0), abs=1e-6)


def test_wgs72_cartesian_reference_points() -> None:
    a, f = 6378135.0, 1.0 / 298.26  # WGS-72, the ellipsoid of satgenpy's geodetic2cartesian
    assert wgs72_geodetic_to_ecef_m(0.0, 0.0, 0.0) == pytest.approx((a, 0.0, 0.0), abs=1e-6)
    assert wgs72_geodetic_to_ecef_m(0.0, 90.0, 100.0) == pytest.approx((0.0, a + 100.0, 0.0), abs=1e-6)
    assert wgs72_geodetic_to_ecef_m(90.0, 0.0, 0.0) == pytest.approx((0.0, 0.0, a * (1 - f)), abs=1e-6)
    x, y, z = wgs72_geodetic_to_ecef_m(45.0, 45.0, 0.0)
    assert math.hypot(x, y) == pytest.approx(a / math.sqrt(2 - (2 * f - f * f)), rel=1e-12)
    assert x == pytest.approx(y)


def test_isl_pairs_reject_bad_edges() -> None:
    assert satgenpy_isl_pairs(np.zeros((0, 2), dtype=np.int64), 5).shape == (0, 2)
    for bad in ([[0, 0]], [[0, 5]], [[-1, 2]]):
        with pytest.raises(OrbitsError, match="distinct satellites"):
            satgenpy_isl_pairs(np.array(bad), 5)


# --- CLI --------------------------------------------------------------------------------------------
_cli = run_cli


def test_cli_export_writes_satgenpy_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "gs.csv"
    csv.write_text("name,lat,lon,alt_km\nZurich,47.3769,8.5417,0.408\nSydney,-33.8688,151.2093,0.058\n")
    out_dir = tmp_path / "hypatia"
    code, out, err = _cli(["constellation", "export", "--format", "satgenpy", "--preset", "small",
                           "--link-policy", "grid", "--ground-stations", str(csv), str(out_dir)], capsys)
    assert code == 0, err
    assert "66 satellites" in out and "2 ground stations" in out
    n_orbits, per_orbit, entries = parse_tles(out_dir / "tles.txt")
    assert (n_orbits, per_orbit, len(entries)) == (6, 11, 66)
    pairs = parse_isls(out_dir / "isls.txt", 66)
    assert pairs and pairs == sorted(pairs)
    assert [s["name"] for s in parse_ground_stations_extended(out_dir / "ground_stations.txt")] == ["Zurich", "Sydney"]


@pytest.mark.parametrize("args", [
    ["--format", "ns3"],
    ["--format", "satgenpy", "--link-policy", "ring"],
    ["--format", "satgenpy", "--ground-stations", "no-such-stations.csv"],
])
def test_cli_export_bad_input_is_one_line(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["constellation", "export", *args, str(tmp_path / "out")], capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), err
    assert not (tmp_path / "out").exists()
