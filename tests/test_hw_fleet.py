"""Fleets of differing satellites: seeded mixes, fleet CSV files, per-satellite arrays."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fedspan.hardware import PROFILES, HardwareError
from fedspan.hardware.fleet import Fleet, read_fleet_csv, satellite_arrays, seeded_mix

RESOURCE_FIELDS = ("max_cpu_hz", "min_cpu_hz", "cycles_per_sample", "capacitance", "static_power_w")
POWER_FIELDS = ("array_w", "bus_w", "capacity_j", "max_depth_of_discharge", "initial_soc_j")


# ---------------------------------------------------------------------------------------------------
# seeded_mix
# ---------------------------------------------------------------------------------------------------

def test_mix_is_reproducible_and_exact() -> None:
    weights = {"smallsat-edge": 0.3, "broadband": 0.7}
    a = seeded_mix(weights, 1000, seed=4)
    assert np.array_equal(a, seeded_mix(weights, 1000, seed=4))
    assert np.array_equal(a, seeded_mix(dict(reversed(list(weights.items()))), 1000, seed=4))  # order-free
    assert not np.array_equal(a, seeded_mix(weights, 1000, seed=5))
    assert (a == "smallsat-edge").sum() == 300 and (a == "broadband").sum() == 700
    # placement is random, not blocks
    assert 0.2 < (a[:500] == "smallsat-edge").mean() < 0.4
    assert set(seeded_mix({"cubesat": 1, "paper": 0}, 7, 0)) == {"cubesat"}
    numpy_numbers = seeded_mix({"cubesat": np.float32(1), "paper": np.int64(1)}, np.int64(4), np.int64(9))
    assert sorted(numpy_numbers.tolist()) == ["cubesat", "cubesat", "paper", "paper"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=5).filter(lambda w: sum(w) > 0),
       st.integers(1, 500), st.integers(0, 2**32))
@example([1.0, 1.0, 1.0], 10, 0)
def test_mix_counts_are_within_one_of_the_exact_share(weights: list[float], n: int, seed: int) -> None:
    names = list(PROFILES)[: len(weights)]
    mix = seeded_mix(dict(zip(names, weights)), n, seed)
    assert len(mix) == n
    shares = np.array(weights) / sum(weights) * n
    for name, share in zip(names, shares):
        assert abs((mix == name).sum() - share) < 1


@pytest.mark.parametrize("weights,n,seed,message", [
    ({}, 5, 0, "mix is empty"),
    ({"warp-drive": 1.0}, 5, 0, r"unknown hardware profile 'warp-drive' in the mix \(valid: paper, cubesat"),
    ({"cubesat": -1.0}, 5, 0, "finite number >= 0"),
    ({"cubesat": float("nan")}, 5, 0, "finite number >= 0"),
    ({"cubesat": 0.0}, 5, 0, "sum to 0"),
    ({"cubesat": 1.0}, 0, 0, "num_satellites"),
    ({"cubesat": 1.0}, 5, 1.5, "seed"),
])
def test_mix_refuses_bad_input(weights, n, seed, message: str) -> None:
    with pytest.raises(HardwareError, match=message):
        seeded_mix(weights, n, seed)


# ---------------------------------------------------------------------------------------------------
# satellite_arrays
# ---------------------------------------------------------------------------------------------------

def test_arrays_per_profile_and_nan_free() -> None:
    profiles = [PROFILES["cubesat"], PROFILES["paper"], PROFILES["smallsat-edge"]]
    flops = 17.6e6
    # cubesat is rf, the other two optical: mixing is refused (checked below); take optical ones
    optical = [PROFILES["paper"], PROFILES["smallsat-edge"], PROFILES["broadband"], PROFILES["smallsat-edge"]]
    arrays = satellite_arrays(optical, flops)
    for i, p in enumerate(optical):
        c = p.compute
        assert arrays["max_cpu_hz"][i] == c.max_clock_hz and arrays["min_cpu_hz"][i] == c.min_clock_hz
        assert arrays["cycles_per_sample"][i] == c.cycles_per_sample(flops)
        assert arrays["capacitance"][i] == c.capacitance and arrays["static_power_w"][i] == c.static_power_w
        assert arrays["terminals"][i] == p.link.terminals and arrays["acquisition_s"][i] == p.link.acquisition_s
        if p.power is None:
            assert np.isinf(arrays["capacity_j"][i]) and arrays["array_w"][i] == arrays["bus_w"][i] == 0
        else:
            assert arrays["capacity_j"][i] == p.power.battery_wh * 3600 == arrays["initial_soc_j"][i]
            assert arrays["max_depth_of_discharge"][i] == p.power.max_depth_of_discharge
    assert arrays["terminals"].dtype == np.int64
    assert not any(np.isnan(v).any() for v in arrays.values())
    assert set(arrays) >= set(RESOURCE_FIELDS) | set(POWER_FIELDS)
    with pytest.raises(HardwareError, match=r"mix link technologies \(optical, rf\).*interoperable"):
        satellite_arrays(profiles, flops)


def test_initial_state_of_charge_scales_the_stored_energy() -> None:
    half = dataclasses.replace(PROFILES["cubesat"], power=dataclasses.replace(PROFILES["cubesat"].power,
                                                                               initial_state_of_charge=0.5))
    arrays = satellite_arrays([half, PROFILES["cubesat"]], 1e6)
    assert arrays["initial_soc_j"].tolist() == [0.5 * 77 * 3600, 77 * 3600]


def test_index_form_and_its_checks() -> None:
    unique = [PROFILES["smallsat-edge"], PROFILES["broadband"]]
    index = np.array([1, 0, 0, 1, 1])
    a = satellite_arrays(unique, 5e6, index=index)
    b = satellite_arrays([unique[i] for i in index], 5e6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    for bad in (np.array([0, 2]), np.array([-1]), np.array([0.0, 1.0]), np.zeros((2, 2), int)):
        with pytest.raises(HardwareError, match="index"):
            satellite_arrays(unique, 5e6, index=bad)
    with pytest.raises(HardwareError, match="HardwareProfile"):
        satellite_arrays(["cubesat"], 5e6)
    with pytest.raises(HardwareError, match="no profiles"):
        satellite_arrays([], 5e6)


def test_a_starlink_sized_mix_is_fast() -> None:
    """5236 satellites (the real Starlink snapshot's count): a mix and its arrays in well under a second."""
    start = time.perf_counter()
    names = seeded_mix({"smallsat-edge": 0.2, "broadband": 0.8}, 5236, seed=0)
    profiles = [PROFILES[n] for n in names]
    arrays = satellite_arrays(profiles, 17.6e6)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.25, elapsed
    assert len(arrays["max_cpu_hz"]) == 5236
    assert (arrays["max_cpu_hz"] == 1.3e9).sum() == round(0.8 * 5236)


# ---------------------------------------------------------------------------------------------------
# read_fleet_csv
# ---------------------------------------------------------------------------------------------------

def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_fleet_file_with_header_comments_and_gaps(tmp_path: Path) -> None:
    path = _csv(tmp_path, "# a mixed fleet\nsatellite,profile,data_scale,battery_wh\n"
                          "0,broadband,,\n2,smallsat-edge,2.5,\n\n3, smallsat-edge ,,150\n")
    fleet = read_fleet_csv(path, 5)
    assert isinstance(fleet, Fleet) and len(fleet) == 5
    assert fleet.profile.tolist() == ["broadband", "", "smallsat-edge", "smallsat-edge", ""]
    assert fleet.data_scale.tolist() == [1.0, 1.0, 2.5, 1.0, 1.0]
    assert np.isnan(fleet.battery_wh[[0, 1, 2, 4]]).all() and fleet.battery_wh[3] == 150
    unique, index = fleet.profiles(PROFILES["paper"])
    assert len(unique) == 4 and [unique[i].name for i in index] == ["broadband", "paper", "smallsat-edge",
                                                                      "smallsat-edge", "paper"]
    arrays = fleet.satellite_arrays(PROFILES["paper"], 1e6)
    assert arrays["capacity_j"][3] == 150 * 3600 and arrays["capacity_j"][2] == 300 * 3600
    assert np.isinf(arrays["capacity_j"][[1, 4]]).all() and arrays["cycles_per_sample"][1] == 1e7
    assert arrays["data_scale"].tolist() == [1.0, 1.0, 2.5, 1.0, 1.0]


def test_fleet_file_without_header_and_custom_profiles(tmp_path: Path) -> None:
    mine = dataclasses.replace(PROFILES["cubesat"], name="mine")
    fleet = read_fleet_csv(_csv(tmp_path, "1,mine\n0,cubesat,0.5\n"), 2, known={**PROFILES, "mine": mine})
    assert fleet.profile.tolist() == ["cubesat", "mine"] and fleet.data_scale.tolist() == [0.5, 1.0]
    unique, index = fleet.profiles(PROFILES["paper"])
    assert unique[index[1]] is mine
    # a satellite set to a battery on a default without a power system is caught when resolved
    fleet = read_fleet_csv(_csv(tmp_path, "satellite,profile,battery_wh\n0,cubesat,10\n"), 2)
    assert fleet.satellite_arrays(PROFILES["iridium-rf"], 1e6)["capacity_j"].tolist() == [36000.0, 2000 * 3600]


@pytest.mark.parametrize("text,message", [
    ("0,cubesat\n0,cubesat\n", r"fleet.csv:2: satellite 0 is listed twice \(first on line 1\)"),
    ("5,cubesat\n", r"fleet.csv:1: satellite index 5 is outside 0..4"),
    ("-1,cubesat\n", "fleet.csv:1: satellite index -1 is outside"),
    ("x1,cubesat\n", "fleet.csv:1: unknown column 'x1'"),
    ("satellite,profile\n1.5,cubesat\n", "fleet.csv:2: satellite '1.5' is not an integer index"),
    ("0,starship\n", r"fleet.csv:1: unknown profile 'starship' \(valid: paper, cubesat, smallsat-edge, broadband, iridium-rf\)"),
    ("0,cubesat,abc\n", "fleet.csv:1: data_scale 'abc' is not a number"),
    ("0,cubesat,nan\n", "fleet.csv:1: data_scale 'nan' must be a finite number"),
    ("0,cubesat,0\n", "fleet.csv:1: data_scale '0' must be"),
    ("0,cubesat,1,-5\n", "fleet.csv:1: battery_wh '-5' must be"),
    ("0,paper,1,50\n", "fleet.csv:1: battery_wh given but profile 'paper' has no power system"),
    ("0,cubesat,1,50,9\n", "fleet.csv:1: 5 fields, at most 4 expected"),
    ("0\n", "fleet.csv:1: each row needs a satellite index and a profile name"),
    ("satellite,profile,voltage\n", "fleet.csv:1: unknown column 'voltage'"),
    ("profile,satellite\n", "fleet.csv:1: the first two columns must be satellite,profile"),
    ("satellite,profile,data_scale,data_scale\n", "fleet.csv:1: a column is named twice"),
    ("# nothing\n\n", "fleet.csv: no satellite rows"),
    ("satellite,profile\n", "fleet.csv: no satellite rows"),
    ('0,"cubesat\n', "fleet.csv:1: malformed CSV"),
    ('0,"cube"sat\n', "fleet.csv:1: malformed CSV"),
])
def test_bad_fleet_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HardwareError, match=message) as info:
        read_fleet_csv(_csv(tmp_path, text), 5)
    assert "\n" not in str(info.value)


def test_fleet_file_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with open(big, "wb") as fh:
        fh.write(b"0,cubesat\n" + b"#" * (8 * 1024 * 1024))
    with pytest.raises(HardwareError, match=r"big.csv: cannot read fleet file \(file is .* bytes, more than"):
        read_fleet_csv(big, 5)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"0,cubesat\n1,\xff\n")
    with pytest.raises(HardwareError, match="bin.csv:2: not UTF-8 text"):
        read_fleet_csv(binary, 5)
    with pytest.raises(HardwareError, match="missing.csv: fleet file not found"):
        read_fleet_csv(tmp_path / "missing.csv", 5)
    with pytest.raises(HardwareError, match="num_satellites"):
        read_fleet_csv(binary, 0)


def test_a_full_fleet_file_reads_fast(tmp_path: Path) -> None:
    names = seeded_mix({"smallsat-edge": 1, "broadband": 3}, 5236, seed=2)
    path = _csv(tmp_path, "satellite,profile\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names)))
    start = time.perf_counter()
    fleet = read_fleet_csv(path, 5236)
    arrays = fleet.satellite_arrays(PROFILES["paper"], 1e6)
    assert time.perf_counter() - start < 0.5
    assert np.array_equal(fleet.profile, names)
    assert (arrays["max_cpu_hz"] == 1.3e9).sum() == (names == "broadband").sum()
