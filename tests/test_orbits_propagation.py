"""Walker presets, plane inference and SGP4 propagation cross-checked against Skyfield."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from skyfield.api import EarthSatellite, wgs84
from skyfield.framelib import itrs
from skyfield.sgp4lib import TEME

from orbits import WALKER_PRESETS, Constellation, OrbitsError, WalkerSpec, make_tle, read_tle, walker_delta, write_preset
from orbits.errors import OrbitsWarning
from orbits.timebase import timescale
from orbits.walker import DEFAULT_EPOCH


@pytest.mark.parametrize(
    ("name", "count", "planes", "inclination", "altitude"),
    [("starlink-shell1", 1584, 72, 53.0, 550), ("small", 66, 6, 53.0, 550), ("iridium", 66, 6, 86.4, 780),
     ("oneweb", 648, 18, 87.9, 1200)],
)
def test_presets_match_their_specification(name: str, count: int, planes: int, inclination: float, altitude: float,
                                           tmp_path: Path) -> None:
    assert write_preset(name, tmp_path / "c.tle") == count
    constellation = Constellation.from_file(tmp_path / "c.tle")
    assert len(constellation) == count and constellation.layout.num_planes == planes
    assert np.all(np.bincount(constellation.plane_ids) == count // planes)
    assert {t.inclination_deg for t in constellation.tles} == {inclination}
    # The SGP4 radius of a circular Walker orbit stays within a few km of the nominal altitude.
    radius = np.linalg.norm(constellation.propagate(offsets_s=np.arange(0, 6000, 600)).positions_km, axis=-1)
    assert np.all(np.abs(radius - 6378.135 - altitude) < 25)


def test_walker_notation_and_validation() -> None:
    assert WalkerSpec.parse("53:1584/72/1", 550) == WALKER_PRESETS["starlink-shell1"]
    assert WALKER_PRESETS["iridium"].notation == "86.4:66/6/2"
    for bad in ("53-1584/72/1", "53:1584/71/1"):
        with pytest.raises(OrbitsError):
            WalkerSpec.parse(bad, 550)
    with pytest.raises(OrbitsError, match="phasing"):
        WalkerSpec(53, 66, 6, 6, 550)
    with pytest.raises(OrbitsError, match="unknown Walker preset 'nope'; known:"):
        Constellation.from_preset("nope")


def test_walker_phasing_geometry() -> None:
    spec = WalkerSpec(53.0, 66, 6, 2, 550.0)
    tles = walker_delta(spec)
    # Slot s of plane p: RAAN 360 p / P, mean anomaly 360 s / S + 360 F p / T.
    tle = tles[3 * 11 + 4]
    assert tle.raan_deg == pytest.approx(180.0)
    assert tle.mean_anomaly_deg == pytest.approx((360 * 4 / 11 + 360 * 2 * 3 / 66) % 360, abs=1e-4)


@pytest.mark.parametrize("name", sorted(WALKER_PRESETS))
def test_inferred_planes_equal_exact_walker_planes(name: str) -> None:
    exact = Constellation.from_preset(name)
    inferred = Constellation.from_tles(exact.tles)
    assert np.array_equal(inferred.plane_ids, exact.plane_ids)
    assert np.array_equal(inferred.grid_edges, exact.grid_edges)


def test_inferred_planes_survive_raan_drift_between_epochs() -> None:
    """TLEs of one shell issued a day apart differ by ~4.5 deg in RAAN; planes must still match."""
    exact = Constellation.from_preset("small")
    shifted = walker_delta(WALKER_PRESETS["small"], DEFAULT_EPOCH)
    # Re-issue half of the satellites with an epoch one day later and RAAN advanced by the J2 rate.
    rate = np.degrees(exact._satrecs[0].nodedot) * 1440.0
    mixed = [
        make_tle(t.norad_id, DEFAULT_EPOCH + timedelta(days=1), t.inclination_deg, t.raan_deg + rate, 0.0, 0.0,
                 t.mean_anomaly_deg + np.degrees(exact._satrecs[0].mdot) * 1440.0 % 360, t.mean_motion_rev_per_day,
                 name=t.name) if i % 2 else t
        for i, t in enumerate(shifted)
    ]
    assert abs(rate) > 3.0
    inferred = Constellation.from_tles(mixed).plane_ids
    # Same partition into planes (labels may rotate because RAANs are compared a day later).
    pairs = set(zip(inferred.tolist(), exact.plane_ids.tolist()))
    assert len(pairs) == len(set(inferred.tolist())) == len(set(exact.plane_ids.tolist())) == 6


def test_teme_and_earth_fixed_positions_match_skyfield() -> None:
    constellation = Constellation.from_preset("small")
    offsets = np.array([0.0, 1234.5, 86400.0 * 3 + 17.25])
    states = constellation.propagate(offsets_s=offsets)
    lat, lon = states.subpoints()
    ts = timescale()
    for t_index, offset in enumerate(offsets):
        when = ts.from_datetime(constellation.epoch + timedelta(seconds=float(offset)))
        for n in (0, 17, 65):
            tle = constellation.tles[n]
            position = EarthSatellite(tle.line1, tle.line2, ts=ts).at(when)
            assert np.linalg.norm(position.frame_xyz(TEME).km - states.positions_km[t_index, n]) < 1e-3
            assert np.linalg.norm(position.frame_xyz(itrs).km - states.positions_ecef_km[t_index, n]) < 1e-3
            sub = wgs84.subpoint_of(position)
            assert sub.latitude.degrees == pytest.approx(lat[t_index, n], abs=1e-6)
            assert ((sub.longitude.degrees - lon[t_index, n] + 180) % 360 - 180) == pytest.approx(0, abs=1e-6)


def test_chunked_propagation_equals_single_call() -> None:
    constellation = Constellation.from_preset("small")
    offsets = np.arange(0.0, 700.0, 7.0)
    whole = constellation.propagate(offsets_s=offsets)
    chunks = list(constellation.propagate_chunks(offsets_s=offsets, chunk_states=66 * 9))
    assert len(chunks) == 12
    assert np.array_equal(np.concatenate([c.positions_km for c in chunks]), whole.positions_km)


def test_decaying_satellite_is_marked_invalid_not_fatal() -> None:
    healthy = walker_delta(WALKER_PRESETS["small"])[:5]
    decaying = make_tle(90001, DEFAULT_EPOCH, 51.6, 10.0, 0.0005, 0.0, 0.0, 16.3, name="DECAYING", bstar=0.005)
    broken = make_tle(90002, DEFAULT_EPOCH, 51.6, 10.0, 0.9, 0.0, 0.0, 16.3, name="BELOW-GROUND")
    with pytest.warns(OrbitsWarning, match="dropped 1 satellite"):
        constellation = Constellation.from_tles([*healthy, decaying, broken])
    assert [d.name for d in constellation.dropped] == ["BELOW-GROUND"]
    assert "SGP4 error 6" in constellation.dropped[0].reason
    states = constellation.propagate(offsets_s=[0.0, 86400.0 * 2])
    assert states.valid[0].all() and states.valid[1, :5].all() and not states.valid[1, 5]
    assert np.isnan(states.positions_km[1, 5]).all() and states.error_codes[1, 5] != 0


def test_bad_times_are_orbits_errors() -> None:
    constellation = Constellation.from_preset("small")
    with pytest.raises(OrbitsError, match="naive"):
        constellation.propagate(DEFAULT_EPOCH.replace(tzinfo=None), [0.0])
    with pytest.raises(OrbitsError, match="finite"):
        constellation.propagate(None, [0.0, float("nan")])


def test_real_starlink_file_loads_and_propagates(starlink_tle: Path) -> None:
    constellation = Constellation.from_file(starlink_tle)
    assert len(constellation) + len(constellation.dropped) == 5236
    states = constellation.propagate(offsets_s=np.arange(0.0, 3 * 86400.0, 86400.0 / 4))
    assert states.valid.mean() > 0.99
    heights = states.altitudes_km()[states.valid]
    assert 150 < np.median(heights) < 700
    # Shell 1 (53.0 deg, ~550 km) appears as ~72 planes of ~20 satellites after inference.
    sizes = np.bincount(constellation.plane_ids)
    assert (sizes >= 15).sum() > 72 and np.all(read_tle(starlink_tle)[0].name == constellation.names[0])
