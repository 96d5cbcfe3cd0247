"""Ground stations: CSV reader (errors, fuzzing), elevation vs Skyfield, windows, RF rate, satgenpy export."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyfield.api import EarthSatellite, wgs84

from orbits import (
    Constellation,
    GroundStation,
    GroundStationError,
    OrbitsError,
    RFParams,
    downlink_rate_bps,
    elevation_deg,
    export_satgenpy,
    read_ground_stations,
    read_tle,
    slant_range_km,
    snapshots,
    visibility_windows,
)
from orbits.timebase import timescale

STATIONS = [GroundStation("Zurich", 47.3769, 8.5417, 0.408), GroundStation("Svalbard", 78.23, 15.39, 0.5, 5.0)]


def test_reader_accepts_both_formats_with_header_and_comments(tmp_path: Path) -> None:
    ours = tmp_path / "gs.csv"
    ours.write_text("# stations\nname,lat,lon,alt_km,min_elev\r\nZurich,47.3769,8.5417,0.408\nSvalbard,78.23,15.39,0.5,5\n")
    satgen = tmp_path / "ground_stations.txt"
    satgen.write_text("0,Zurich,47.3769,8.5417,408.0\n1,Svalbard,78.23,15.39,500\n")
    assert read_ground_stations(ours) == STATIONS
    assert [(s.name, s.lat_deg, s.alt_km) for s in read_ground_stations(satgen)] == [
        ("Zurich", 47.3769, 0.408), ("Svalbard", 78.23, 0.5)]


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        ("a,1,2\nb,95,0\n", 2, "latitude 95.0"),
        ("a,1,2\nb,x,0\n", 2, "non-numeric"),
        ("a,1\n", 1, "got 2 fields"),
        ("", None, "no ground stations"),
        ("a,1,2,0,91\n", 1, "minimum elevation"),
    ],
)
def test_reader_errors_name_file_and_line(tmp_path: Path, content: str, line: int | None, fragment: str) -> None:
    path = tmp_path / "gs.csv"
    path.write_text(content)
    with pytest.raises(GroundStationError) as info:
        read_ground_stations(path)
    assert info.value.line == line and fragment in info.value.reason and str(path) in str(info.value)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300), st.text(alphabet="0123456789,.-+ e\nabcnan#", max_size=120).map(str.encode)))
def test_reader_fuzz_raises_only_ground_station_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        stations = read_ground_stations(path)
    except GroundStationError:
        return
    assert all(-90 <= s.lat_deg <= 90 and -180 <= s.lon_deg <= 180 for s in stations)


def test_elevation_and_range_match_skyfield() -> None:
    constellation = Constellation.from_preset("small")
    offsets = np.array([0.0, 1800.0, 5000.0])
    states = constellation.propagate(offsets_s=offsets)
    elevation = elevation_deg(STATIONS, states.positions_ecef_km)
    distance = slant_range_km(STATIONS, states.positions_ecef_km)
    ts = timescale()
    for g, station in enumerate(STATIONS):
        topos = wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.alt_km * 1000)
        for n in (0, 30, 61):
            sat = EarthSatellite(constellation.tles[n].line1, constellation.tles[n].line2, ts=ts)
            times = ts.from_datetimes([constellation.epoch + timedelta(seconds=float(s)) for s in offsets])
            alt, _, dist = (sat - topos).at(times).altaz()
            assert np.allclose(alt.degrees, elevation[:, g, n], atol=1e-6)
            assert np.allclose(dist.km, distance[:, g, n], atol=1e-5)


def test_visibility_windows_match_dense_sampling() -> None:
    constellation = Constellation.from_preset("small")
    coarse = np.arange(0.0, 6 * 3600.0, 30.0)
    fine = np.arange(0.0, 6 * 3600.0, 1.0)
    windows = visibility_windows(STATIONS, elevation_deg(STATIONS, constellation.propagate(offsets_s=coarse).positions_ecef_km), coarse)
    dense = elevation_deg(STATIONS, constellation.propagate(offsets_s=fine).positions_ecef_km)
    assert len(windows) > 5
    masks = np.array([s.min_elevation_deg for s in STATIONS])
    for w in windows:
        inside = fine[(dense[:, w.station, w.satellite] >= masks[w.station])]
        near = inside[(inside >= w.start_s - 40) & (inside <= w.end_s + 40)]
        assert w.end_s >= w.start_s
        assert abs(near.min() - w.start_s) <= 2.0 or w.start_s == coarse[0]
        assert abs(near.max() - w.end_s) <= 2.0 or w.end_s == coarse[-1]
    visible_seconds = sum(w.end_s - w.start_s for w in windows)
    assert visible_seconds == pytest.approx((dense >= masks[None, :, None]).sum(), rel=0.02)


def test_shannon_downlink_rate() -> None:
    params = RFParams()
    d = 1000.0
    fspl = 20 * math.log10(4 * math.pi * d * 1e3 * params.frequency_hz / 299792458.0)
    snr_db = 36 + 20 - fspl - 3 + 228.5991 - 10 * math.log10(500e6)
    assert downlink_rate_bps(d) == pytest.approx(500e6 * math.log2(1 + 10 ** (snr_db / 10)), rel=1e-4)
    rates = downlink_rate_bps(np.array([500.0, 1000.0, 2000.0]))
    assert np.all(np.diff(rates) < 0) and 1e9 < rates[1] < 5e9


def test_station_validation() -> None:
    with pytest.raises(OrbitsError, match="longitude"):
        GroundStation("x", 0.0, 200.0)


def test_satgenpy_export_round_trips(tmp_path: Path) -> None:
    constellation = Constellation.from_preset("small")
    snap = next(snapshots(constellation, policy="grid"))
    files = export_satgenpy(tmp_path, constellation, snap.edges, STATIONS, name="Small")
    tles_txt, isls_txt, gs_txt = (p.read_text() for p in files)
    header, _, body = tles_txt.partition("\n")
    assert header == "6 11"
    names = body.splitlines()[0::3]
    assert names == [f"Small {i}" for i in range(66)]
    assert read_tle(_write(tmp_path / "body.tle", body)) == [
        type(t)(f"Small {i}", t.line1, t.line2) for i, t in enumerate(constellation.tles)]
    back = np.array([list(map(int, line.split())) for line in isls_txt.splitlines()])
    assert np.array_equal(back, snap.edges)
    stations = read_ground_stations(files[2])
    assert [(s.name, s.lat_deg, s.lon_deg) for s in stations] == [(s.name, s.lat_deg, s.lon_deg) for s in STATIONS]
    assert [s.alt_km for s in stations] == pytest.approx([s.alt_km for s in STATIONS])
    assert gs_txt.splitlines()[0].split(",")[0] == "0"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
