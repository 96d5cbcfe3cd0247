"""Sun position and Earth shadow cross-checked against Skyfield (de421 from skyfield-data, no download),
a brute-force ray count over the solar disc and the closed-form eclipse fraction of a circular orbit."""

from __future__ import annotations

import functools
import re
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import skyfield_data
from hypothesis import given, settings
from hypothesis import strategies as st
from skyfield.api import EarthSatellite, load_file
from skyfield.sgp4lib import TEME

import orbits.sun as sun_module
from orbits import Constellation, OrbitsError, read_tle
from orbits.errors import OrbitsWarning
from orbits.sun import AU_KM, EARTH_RADIUS_KM, SUN_RADIUS_KM, shadow_fraction, sun_position_km, sunlit_fraction
from orbits.timebase import timescale

DAY = np.arange(0.0, 86400.0, 60.0)


@functools.cache
def ephemeris():  # noqa: ANN201 - Skyfield's SpiceKernel
    """JPL DE421 as bundled by the skyfield-data package (read from disk, never downloaded)."""
    return load_file(str(Path(skyfield_data.__file__).parent / "data" / "de421.bsp"))


def skyfield_sunlit(constellation: Constellation, indices: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Skyfield's `is_sunlit` (T, len(indices)) for the constellation's own TLEs."""
    ts = timescale()
    times = ts.from_datetimes([constellation.epoch + timedelta(seconds=float(s)) for s in offsets])
    eph = ephemeris()
    columns = [
        EarthSatellite(constellation.tles[i].line1, constellation.tles[i].line2, ts=ts).at(times).is_sunlit(eph)
        for i in indices
    ]
    return np.array(columns).T


def check_against_skyfield(constellation: Constellation, indices: np.ndarray) -> tuple[float, int]:
    """Agreement of ours (lit = at least half the disc) with Skyfield over a day at 60 s; asserts the goals."""
    positions = constellation.propagate(offsets_s=DAY).positions_km[:, indices]
    fraction = shadow_fraction(positions, sun_position_km(constellation.epoch, DAY))
    reference = skyfield_sunlit(constellation, indices, DAY)
    valid = ~np.isnan(fraction)
    disagree = (fraction >= 0.5) != reference
    disagree &= valid
    agreement = 1.0 - disagree.sum() / valid.sum()
    # A disagreement is only allowed next to a shadow boundary of the reference.
    boundary = np.zeros_like(reference)
    boundary[1:] |= reference[1:] != reference[:-1]
    boundary[:-1] |= reference[:-1] != reference[1:]
    assert agreement >= 0.995, agreement
    assert not np.any(disagree & ~boundary), np.argwhere(disagree & ~boundary)[:5]
    # The check must see eclipses, or it would pass for an always-lit answer.
    shadowed = 1.0 - reference[:, valid.all(axis=0)].mean()
    assert 0.05 < shadowed < 0.45, shadowed
    return agreement, int(disagree.sum())


def test_sun_position_matches_skyfield_within_0_02_deg() -> None:
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    offsets = np.linspace(0.0, 50 * 365.25 * 86400.0, 1500)  # 2000-2049, inside DE421's span
    ours = sun_position_km(start, offsets)
    times = timescale().from_datetimes([start + timedelta(seconds=float(s)) for s in offsets])
    eph = ephemeris()
    reference = eph["earth"].at(times).observe(eph["sun"]).apparent().frame_xyz(TEME).km.T
    cosine = np.einsum("ij,ij->i", ours, reference) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    angle_deg = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    assert angle_deg.max() < 0.02, angle_deg.max()
    assert np.abs(np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1) - 1.0).max() < 2e-4


def test_sun_position_accepts_any_timezone_and_rejects_naive() -> None:
    utc = datetime(2024, 6, 21, 12, tzinfo=timezone.utc)
    shifted = utc.astimezone(timezone(timedelta(hours=5)))
    assert np.array_equal(sun_position_km(utc, [0.0, 30.0]), sun_position_km(shifted, [0.0, 30.0]))
    declination = np.degrees(np.arcsin(sun_position_km(utc, [0.0])[0, 2] / np.linalg.norm(sun_position_km(utc, [0.0]))))
    assert abs(declination - 23.44) < 0.01  # June solstice
    with pytest.raises(OrbitsError, match="naive"):
        sun_position_km(datetime(2024, 6, 21), [0.0])
    with pytest.raises(OrbitsError, match="finite"):
        sun_position_km(utc, [np.nan])


def test_shadow_agrees_with_skyfield_on_a_walker_preset() -> None:
    small = Constellation.from_preset("small")
    check_against_skyfield(small, np.arange(len(small)))


def test_shadow_agrees_with_skyfield_on_real_starlink_tles(starlink_tle: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OrbitsWarning)
        tles = read_tle(starlink_tle, strict=False)
        # Every 17th satellite: ~300 across all shells, so the test stays fast.
        constellation = Constellation.from_tles(tles[::17], source=str(starlink_tle))
    assert len(constellation) > 250
    check_against_skyfield(constellation, np.arange(len(constellation)))


def brute_force_fraction(position: np.ndarray, sun: np.ndarray, rays: int = 200_000) -> float:
    """Share of rays from the satellite to points spread uniformly over the solar disc that miss the Earth."""
    rng = np.random.default_rng(0)
    axis = sun - position
    distance = np.linalg.norm(axis)
    axis /= distance
    u = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    radius = SUN_RADIUS_KM * np.sqrt(rng.random(rays))
    angle = 2.0 * np.pi * rng.random(rays)
    targets = sun + radius[:, None] * (np.cos(angle)[:, None] * u + np.sin(angle)[:, None] * v)
    direction = targets - position
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    # Ray-sphere test: the closest approach of the ray to the Earth's centre, when ahead of the satellite.
    along = -direction @ position
    closest2 = position @ position - along**2
    blocked = (along > 0) & (closest2 < EARTH_RADIUS_KM**2)
    return float(1.0 - blocked.mean())


def test_penumbra_matches_a_ray_count_over_the_solar_disc() -> None:
    sun = np.array([AU_KM, 0.0, 0.0])
    # Cross the shadow edge 5000 km behind the Earth: umbra, a ~46 km wide penumbra, then sunlight.
    heights = EARTH_RADIUS_KM + np.linspace(-40.0, 40.0, 17)
    positions = np.stack([np.full_like(heights, -5000.0), heights, np.zeros_like(heights)], axis=-1)
    ours = shadow_fraction(positions[None], sun[None])[0]
    reference = np.array([brute_force_fraction(p, sun) for p in positions])
    assert np.abs(ours - reference).max() < 0.01, np.c_[ours, reference]
    assert ours[0] == 0.0 and ours[-1] == 1.0 and np.all(np.diff(ours) >= 0) and np.any((ours > 0.1) & (ours < 0.9))


def test_annular_and_cylinder_cases() -> None:
    sun = np.array([[AU_KM, 0.0, 0.0]])
    # Far enough out that the Earth's disc is smaller than the Sun's: an annular eclipse.
    far = np.array([[[-2.0e6, 0.0, 0.0]]])
    a, b = np.arcsin(SUN_RADIUS_KM / (AU_KM + 2.0e6)), np.arcsin(EARTH_RADIUS_KM / 2.0e6)
    assert shadow_fraction(far, sun)[0, 0] == pytest.approx(1.0 - (b / a) ** 2)
    assert shadow_fraction(far, sun, model="cylinder")[0, 0] == 0.0
    edge = np.array([[[-7000.0, EARTH_RADIUS_KM - 1e-6, 0.0], [-7000.0, EARTH_RADIUS_KM + 1e-6, 0.0]]])
    assert shadow_fraction(edge, sun, model="cylinder").tolist() == [[0.0, 1.0]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(*[st.floats(-9000.0, 9000.0)] * 3), min_size=1, max_size=20),
    st.floats(0.0, 2.0 * np.pi),
    st.floats(-0.41, 0.41),
)
def test_cone_and_cylinder_are_consistent(points: list, longitude: float, latitude: float) -> None:
    positions = np.array(points)[None]
    radius = np.linalg.norm(positions, axis=-1)
    positions = positions[:, radius[0] > EARTH_RADIUS_KM + 100.0]
    sun = AU_KM * np.array([[np.cos(latitude) * np.cos(longitude), np.cos(latitude) * np.sin(longitude), np.sin(latitude)]])
    cone = shadow_fraction(positions, sun)
    cylinder = shadow_fraction(positions, sun, model="cylinder")
    assert np.all((cone >= 0.0) & (cone <= 1.0))
    # The umbra lies inside the cylinder and the cylinder inside the penumbra cone.
    assert np.all(cylinder[cone == 0.0] == 0.0) and np.all(cylinder[cone == 1.0] == 1.0)


def test_nan_positions_and_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    small = Constellation.from_preset("small")
    run = small.propagate(offsets_s=np.arange(0.0, 6000.0, 60.0))
    positions = run.positions_km.copy()
    positions[3, 5] = np.nan
    positions[7, :, 1] = np.nan
    sun = sun_position_km(small.epoch, run.offsets_s)
    whole = shadow_fraction(positions, sun)
    nan = np.isnan(whole)
    assert nan[3, 5] and nan[7].all() and nan.sum() == 1 + len(small)
    monkeypatch.setattr(sun_module, "_CHUNK_SAMPLES", 70)  # one time step per block
    assert np.array_equal(shadow_fraction(positions, sun), whole, equal_nan=True)
    cylinder = shadow_fraction(run.positions_km, sun, "cylinder")
    assert np.array_equal(shadow_fraction(positions, sun, "cylinder"), np.where(nan, np.nan, cylinder), equal_nan=True)


@pytest.mark.parametrize(
    ("positions", "sun", "model", "fragment"),
    [
        (np.zeros((2, 3)), np.zeros((2, 3)), "cone", "shape (T, N, 3)"),
        (np.ones((2, 4, 3)), np.ones((3, 3)), "cone", "sun_km must have shape (2, 3)"),
        (np.ones((1, 4, 3)), np.full((1, 3), np.inf), "cone", "non-finite"),
        (np.ones((1, 4, 3)), np.array([[0.0, AU_KM, 0.0]]), "disc", "'cone' or 'cylinder'"),
        (np.ones((2, 4, 3)), np.array([[AU_KM, 0.0, 0.0], [1.0, 0.0, 0.0]]), "cone", "sun_km[1] is 1 km"),
    ],
)
def test_shadow_fraction_errors(positions: np.ndarray, sun: np.ndarray, model: str, fragment: str) -> None:
    with pytest.raises(OrbitsError, match=re.escape(fragment)):
        shadow_fraction(positions, sun, model=model)


def test_sunlit_fraction_matches_the_closed_form_eclipse_of_a_circular_orbit() -> None:
    """Cylinder eclipse of a circular orbit: (1/pi) acos(sqrt(h^2 + 2 R h) / (r cos beta)), 0 when that exceeds 1."""
    small = Constellation.from_preset("small")
    period_s = 86400.0 / small.tles[0].mean_motion_rev_per_day
    lit = sunlit_fraction(small, None, 0.0, period_s, step_s=5.0, model="cylinder")
    run = small.propagate(offsets_s=[0.0])
    normal = np.cross(run.positions_km[0], run.velocities_km_s[0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    sun = sun_position_km(small.epoch, [period_s / 2])[0]
    beta = np.arcsin(normal @ sun / np.linalg.norm(sun))
    radius = np.linalg.norm(run.positions_km[0], axis=1)
    height = radius - EARTH_RADIUS_KM
    ratio = np.sqrt(height**2 + 2.0 * EARTH_RADIUS_KM * height) / (radius * np.cos(beta))
    eclipse = np.where(ratio < 1.0, np.arccos(np.minimum(ratio, 1.0)) / np.pi, 0.0)
    assert np.abs(lit - (1.0 - eclipse)).max() < 0.01, np.c_[lit, 1 - eclipse][::11]
    assert np.ptp(eclipse) > 0.05  # planes with different beta angles, so the check is not one number


def test_sunlit_fraction_sampling_and_errors() -> None:
    small = Constellation.from_preset("small")
    start = small.epoch + timedelta(minutes=7)
    offsets = 100.0 + 45.0 * (np.arange(8) + 0.5)  # [100, 460] in 8 parts of 45 s, sampled at the midpoints
    expected = shadow_fraction(small.propagate(start, offsets).positions_km, sun_position_km(start, offsets)).mean(axis=0)
    assert np.allclose(sunlit_fraction(small, start, 100.0, 460.0, step_s=50.0), expected, rtol=0, atol=1e-12)
    instant = shadow_fraction(small.propagate(start, [100.0]).positions_km, sun_position_km(start, [100.0]))[0]
    assert np.array_equal(sunlit_fraction(small, start, 100.0, 100.0), instant)
    for args, fragment in (((10.0, 5.0), "before"), ((0.0, 60.0, 0.0), "step_s"), ((0.0, np.inf), "t1_s")):
        with pytest.raises(OrbitsError, match=fragment):
            sunlit_fraction(small, start, *args)
