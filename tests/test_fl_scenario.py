"""Scenario glue: orbits snapshot -> SpanningProblem over the available satellites, ground links."""

from __future__ import annotations

import numpy as np
import pytest

from fedspan.aggregation import forest_levels
from fedspan.scenario import Scenario, ScenarioConfig, ScenarioError


@pytest.fixture(scope="module")
def small():
    return Scenario(ScenarioConfig(constellation="small", roots_see_ground=True), model_bits=1e5)


def test_problem_is_the_snapshot_restricted_to_available_satellites(small):
    snap = small.snapshot(600.0, window_s=30.0)
    n = small.num_satellites
    available = np.ones(n, bool)
    available[[0, 17, 42]] = False
    weights = np.arange(n, dtype=float)
    problem, nodes = small.problem(snap, available, weights, 2)
    assert list(nodes) == [i for i in range(n) if available[i]]
    back = np.sort(nodes[problem.edges], axis=1)
    want = snap.edges[available[snap.edges].all(axis=1)]
    assert {tuple(e) for e in back.tolist()} == {tuple(e) for e in want.tolist()}
    row = {tuple(e): i for i, e in enumerate(snap.edges.tolist())}
    idx = [row[tuple(e)] for e in back.tolist()]
    np.testing.assert_allclose(problem.rate_per_watt, snap.rate_per_watt[idx])
    np.testing.assert_allclose(problem.delay_s, snap.delay_s[idx])
    # Planning needs at least one smallest batch per satellite; real data counts are kept above it.
    np.testing.assert_array_equal(problem.resources.num_samples,
                                  np.maximum(weights[nodes], small.config.batch_bounds[0]))
    np.testing.assert_array_equal(problem.root_eligible, small.ground_links(600.0).visible[nodes])
    assert problem.num_trees == 2 and problem.model_bits == 1e5


def test_links_change_as_the_constellation_moves(small):
    a, b = small.snapshot(0.0), small.snapshot(1500.0)
    assert not np.allclose(a.positions_km, b.positions_km)
    lat0, _ = small.subpoints(0.0)
    lat1, _ = small.subpoints(1500.0)
    assert np.abs(lat0 - lat1).max() > 10.0


def test_bad_constellation_and_station_files_are_named(tmp_path):
    with pytest.raises(ScenarioError, match="'nowhere' is neither a preset"):
        Scenario(ScenarioConfig(constellation="nowhere"), model_bits=1.0)
    bad_tle = tmp_path / "bad.tle"
    bad_tle.write_text("this is not a TLE\n")
    with pytest.raises(ScenarioError, match="bad.tle"):
        Scenario(ScenarioConfig(constellation=str(bad_tle)), model_bits=1.0)
    csv = tmp_path / "gs.csv"
    csv.write_text("name,lat,lon\nPole,95,0\n")
    sc = Scenario(ScenarioConfig(ground_stations=str(csv)), model_bits=1.0)
    with pytest.raises(ScenarioError, match="gs.csv"):
        sc.ground_links(0.0)
    with pytest.raises(ScenarioError, match="no satellite is available"):
        sc.problem(sc.snapshot(0.0), np.zeros(sc.num_satellites, bool), np.ones(sc.num_satellites), 1)


def test_custom_ground_stations_file(tmp_path):
    csv = tmp_path / "gs.csv"
    csv.write_text("name,lat,lon,alt_km,min_elevation_deg\nEverywhere-ish,0,0,0,-90\n")
    sc = Scenario(ScenarioConfig(ground_stations=str(csv)), model_bits=1.0)
    links = sc.ground_links(0.0)
    assert links.visible.all() and (links.rate_bps > 0).all()  # a -90 deg mask sees everything


def test_real_starlink_snapshot_plans_a_forest(starlink_tle):
    import warnings

    from optimization.forests import distance_forest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # decayed satellites are dropped with a warning
        sc = Scenario(ScenarioConfig(constellation=str(starlink_tle)), model_bits=1.5e5)
    n = sc.num_satellites
    assert n > 5000
    snap = sc.snapshot(0.0, window_s=30.0)
    problem, nodes = sc.problem(snap, np.ones(n, bool), np.full(n, 30.0), "auto")
    assert set(nodes) == set(np.flatnonzero(snap.active))
    parent = distance_forest(problem)
    levels = forest_levels(parent)
    assert levels.depth.max() > 0 and (parent >= -1).all()
