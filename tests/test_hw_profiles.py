"""Hardware profiles: the paper profile reproduces today's numbers, the others physical-params.md's
computed figures, and TOML profile files are validated like every untrusted file."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from fedspan.errors import FedSpanError
from fedspan.hardware import PROFILES, ComputeSpec, HardwareError, HardwareProfile, LinkSpec, PowerSpec, hardware_profile
from fedspan.hardware.fleet import satellite_arrays
from fedspan.scenario import ScenarioConfig
from optimization.problem import SatelliteResources
from orbits.links import LinkParams


def test_required_profiles_exist() -> None:
    assert {"paper", "cubesat", "smallsat-edge", "broadband", "iridium-rf"} <= set(PROFILES)
    assert PROFILES["iridium-rf"].link_policy == "grid" and PROFILES["iridium-rf"].link.technology == "rf"
    assert issubclass(HardwareError, FedSpanError) and issubclass(HardwareError, ValueError)


def test_paper_profile_reproduces_todays_defaults_exactly() -> None:
    paper = PROFILES["paper"]
    config, uniform = ScenarioConfig(), SatelliteResources.uniform(1)
    c = paper.compute
    assert c.max_clock_hz == config.max_cpu_hz == uniform.max_cpu_hz[0] == 1.5e9
    assert c.min_clock_hz == uniform.min_cpu_hz[0] == 1e8
    for flops in (1.0, 7e7, 1e12):  # the paper's model ignores the model's FLOPs
        assert c.cycles_per_sample(flops) == config.cycles_per_sample == uniform.cycles_per_sample[0] == 1e7
    assert c.capacitance == config.capacitance == uniform.capacitance[0] == 1e-28
    assert c.static_power_w == c.idle_power_w == 0.0
    # busy_power_w is what the fixed capacitance draws at full clock, so the cubic law agrees with C.
    assert math.isclose(2 * (c.busy_power_w - c.idle_power_w) / c.max_clock_hz**3, 1e-28, rel_tol=1e-12)
    link = paper.link
    assert link.link_params() == config.link_params == LinkParams()
    assert (link.technology, link.terminal_power_w, link.acquisition_s) == ("optical", 0.0, 0.0)
    assert link.max_tx_power_w == uniform.max_tx_power_w[0] and link.terminals == uniform.terminals[0]
    assert paper.power is None and paper.link_policy == config.link_policy == "knn"


def test_paper_arrays_equal_the_uniform_resources() -> None:
    arrays = satellite_arrays([PROFILES["paper"]] * 5, flops_per_sample=3e6)
    uniform = SatelliteResources.uniform(5)
    for name in ("max_cpu_hz", "min_cpu_hz", "cycles_per_sample", "capacitance", "terminals", "max_tx_power_w"):
        np.testing.assert_array_equal(arrays[name], getattr(uniform, name))
    assert np.all(arrays["static_power_w"] == 0) and np.all(np.isinf(arrays["capacity_j"]))


@pytest.mark.parametrize("name", [n for n in PROFILES if n != "paper"])
def test_optimizer_units_reproduce_the_flop_model(name: str) -> None:
    """T = e B c / f and E = P_static T + 0.5 C e B c f^2 equal the FLOP time and P(f) x time."""
    c = PROFILES[name].compute
    flops, steps, batch = 17.6e6, 3, 16
    cycles = c.cycles_per_sample(flops)
    for f in (c.max_clock_hz, c.min_clock_hz, math.sqrt(c.min_clock_hz * c.max_clock_hz)):
        time_s = steps * batch * cycles / f
        flop_time = steps * batch * flops / (c.peak_flops * c.utilisation * f / c.max_clock_hz)
        assert math.isclose(time_s, flop_time, rel_tol=1e-12)
        energy = c.static_power_w * time_s + 0.5 * c.capacitance * steps * batch * cycles * f**2
        assert math.isclose(energy, c.power_w(f) * time_s, rel_tol=1e-12)
    assert math.isclose(c.power_w(c.max_clock_hz), c.busy_power_w)


def _energy_mj(profile: str, flops: float, utilisation: float | None = None) -> float:
    c = PROFILES[profile].compute
    if utilisation is not None:
        c = dataclasses.replace(c, utilisation=utilisation)
    time_s = c.cycles_per_sample(flops) / c.max_clock_hz
    return 1e3 * (c.static_power_w * time_s + 0.5 * c.capacitance * c.cycles_per_sample(flops) * c.max_clock_hz**2)


def test_profiles_reproduce_physical_params_computed_figures() -> None:
    """physical-params.md sec. 5 (C): energy per 70 MFLOP CNN sample, time per ResNet-18@64 sample."""
    assert round(_energy_mj("cubesat", 70e6)) == 30  # Nano 10 W, u = 10 %
    assert round(_energy_mj("smallsat-edge", 70e6), 1) == 6.2  # Orin NX 25 W, u = 15 %
    assert round(_energy_mj("broadband", 70e6), 1) in (3.9, 4.0)  # AGX Orin 60 W, u = 20 % (3.95)
    times = {n: 1e3 * PROFILES[n].compute.cycles_per_sample(0.89e9) / PROFILES[n].compute.max_clock_hz
             for n in ("broadband", "smallsat-edge", "cubesat")}
    assert round(times["broadband"], 2) == 0.84 and round(times["smallsat-edge"], 1) == 3.2 and round(times["cubesat"]) == 38
    gr740 = dataclasses.replace(PROFILES["iridium-rf"].compute, utilisation=0.30)
    assert round(1e3 * gr740.cycles_per_sample(0.89e9) / gr740.max_clock_hz, -1) == 2970  # "2,960" in the table


def test_power_model_endpoints() -> None:
    nano = PROFILES["cubesat"].compute
    assert nano.power_w(nano.max_clock_hz) == 10.0
    assert 4 < nano.power_w(640e6) < 5  # the cubic model at the 5 W mode's clock
    for name, low_mode_w in (("smallsat-edge", 10.0), ("broadband", 15.0)):
        c = PROFILES[name].compute
        assert math.isclose(c.power_w(c.min_clock_hz), low_mode_w)


def test_broadband_laser_meets_its_cap_over_the_whole_range() -> None:
    from orbits.links import laser_rate_bps

    link = PROFILES["broadband"].link
    rate = laser_rate_bps([link.max_distance_km], [link.max_tx_power_w], link.link_params())
    assert rate[0] == link.max_rate_bps == 100e9


def test_specs_refuse_bad_values() -> None:
    nano = PROFILES["cubesat"].compute
    cases = [
        (lambda: dataclasses.replace(nano, utilisation=1.5), "compute.utilisation"),
        (lambda: dataclasses.replace(nano, peak_flops=float("nan")), "compute.peak_flops"),
        (lambda: dataclasses.replace(nano, min_clock_hz=2e9), "compute.min_clock_hz = 2e+09 exceeds"),
        (lambda: dataclasses.replace(nano, busy_power_w=1.0), "compute.busy_power_w = 1 must exceed"),
        (lambda: dataclasses.replace(nano, idle_power_w=True), "compute.idle_power_w"),
        (lambda: PowerSpec(20, 5, 77, 1.0), "power.max_depth_of_discharge"),
        (lambda: PowerSpec(20, -1, 77, 0.2), "power.bus_w"),
        (lambda: dataclasses.replace(PROFILES["cubesat"].link, terminals=2.5), "link.terminals must be an integer"),
        (lambda: dataclasses.replace(PROFILES["paper"].link, aperture_m=0.0), "link.aperture_m must be > 0"),
        (lambda: dataclasses.replace(PROFILES["paper"].link, technology="laser"), "link.technology must be one of"),
        (lambda: dataclasses.replace(PROFILES["broadband"], link=dataclasses.replace(PROFILES["broadband"].link, terminals=1)),
         "'grid' needs link.terminals >= 2"),
        (lambda: dataclasses.replace(PROFILES["paper"], link_policy="mesh"), "profile.link_policy"),
        (lambda: nano.cycles_per_sample(0.0), "flops_per_sample"),
    ]
    for build, message in cases:
        with pytest.raises(HardwareError, match=message.replace("(", r"\(").replace("+", r"\+")):
            build()
    # rf terminals need no aperture; a fixed clock (min == max) is allowed
    assert dataclasses.replace(PROFILES["cubesat"].link, aperture_m=0.0).aperture_m == 0.0
    assert PROFILES["iridium-rf"].compute.min_clock_hz == PROFILES["iridium-rf"].compute.max_clock_hz


# ---------------------------------------------------------------------------------------------------
# TOML profile files
# ---------------------------------------------------------------------------------------------------

_FULL = """
name = "my-sat"
description = "a complete profile"
link_policy = "knn"
sources = ["S1"]
[compute]
name = "test GPU"
peak_flops = 1e12
utilisation = 0.2
max_clock_hz = 1e9
min_clock_hz = 5e8
idle_power_w = 2
busy_power_w = 20
[link]
name = "test laser"
technology = "optical"
max_rate_bps = 1e9
max_distance_km = 3000
max_tx_power_w = 1
aperture_m = 0.08
terminal_power_w = 30
acquisition_s = 45
terminals = 3
[power]
array_w = 100
bus_w = 30
battery_wh = 200
max_depth_of_discharge = 0.3
"""


def _write(tmp_path: Path, text: str, name: str = "prof.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_complete_file_and_names(tmp_path: Path) -> None:
    profile = hardware_profile(_write(tmp_path, _FULL))
    assert isinstance(profile, HardwareProfile) and profile.name == "my-sat" and profile.sources == ("S1",)
    assert profile.compute == ComputeSpec("test GPU", 1e12, 0.2, 1e9, 5e8, 2, 20)
    assert profile.link == LinkSpec("test laser", "optical", 1e9, 3000, 1, 0.08, 30, 45, 3)
    assert profile.power == PowerSpec(100, 30, 200, 0.3)
    assert hardware_profile("cubesat") is PROFILES["cubesat"]
    with pytest.raises(HardwareError, match=r"unknown hardware profile 'nope'.*paper, cubesat, smallsat-edge"):
        hardware_profile("nope")


def test_base_profile_overridden(tmp_path: Path) -> None:
    text = 'base = "cubesat"\nname = "cubesat-click"\n[link]\nname = "CLICK-B/C optical crosslink"\n' \
           'technology = "optical"\nmax_rate_bps = 20e6\nmax_distance_km = 580\nmax_tx_power_w = 0.2\n' \
           'aperture_m = 0.03\nacquisition_s = 60\n[power]\nbattery_wh = 40\n'
    profile = hardware_profile(_write(tmp_path, text))
    base = PROFILES["cubesat"]
    assert profile.compute == base.compute and profile.link.technology == "optical"
    assert profile.link.terminals == base.link.terminals and profile.link.max_rate_bps == 20e6
    assert profile.power == dataclasses.replace(base.power, battery_wh=40)
    assert profile.link_policy == base.link_policy and profile.sources == base.sources
    dropped = hardware_profile(_write(tmp_path, 'base = "smallsat-edge"\nalways_powered = true\n', "p2.toml"))
    assert dropped.power is None and dropped.name == "p2" and dropped.compute == PROFILES["smallsat-edge"].compute


@pytest.mark.parametrize("edit,message", [
    (lambda t: "extra = 1\n" + t, "unknown key 'extra'"),
    (lambda t: t.replace("[power]", "[power]\nvoltage = 28"), "unknown key 'power.voltage'"),
    (lambda t: t.replace("utilisation = 0.2\n", ""), "missing key 'compute.utilisation'"),
    (lambda t: t.replace("peak_flops = 1e12", "peak_flops = inf"), "compute.peak_flops must be a finite number > 0, got inf"),
    (lambda t: t.replace("peak_flops = 1e12", "peak_flops = nan"), "compute.peak_flops"),
    (lambda t: t.replace("peak_flops = 1e12", "peak_flops = 1" + "0" * 400), "compute.peak_flops must be a finite number"),
    (lambda t: t.replace("utilisation = 0.2", "utilisation = 1.5"), r"compute.utilisation must be a number in \(0, 1\]"),
    (lambda t: t.replace("bus_w = 30", 'bus_w = "30"'), "power.bus_w must be"),
    (lambda t: t.replace("terminals = 3", "terminals = true"), "link.terminals must be"),
    (lambda t: t.replace("terminals = 3", "terminals = 0"), "link.terminals must be"),
    (lambda t: t.replace("terminals = 3", "terminals = 3\npacket_bits = -8"), "link.packet_bits must be a finite number >= 0"),
    (lambda t: t.replace('technology = "optical"', 'technology = "sonar"'), "link.technology must be one of optical, rf"),
    (lambda t: t.replace("max_depth_of_discharge = 0.3", "max_depth_of_discharge = 1"), "power.max_depth_of_discharge"),
    (lambda t: t.replace("min_clock_hz = 5e8", "min_clock_hz = 5e9"), "compute.min_clock_hz = 5e.09 exceeds"),
    (lambda t: t.replace('link_policy = "knn"', 'link_policy = "grid"').replace("terminals = 3", "terminals = 1"),
     "'grid' needs link.terminals >= 2"),
    (lambda t: t.replace('sources = ["S1"]', 'sources = "S1"'), "sources must be a list"),
    (lambda t: t.replace('sources = ["S1"]', "sources = [1]"), "profile.sources"),
    (lambda t: t.replace("[link]", "link = 3\n[linkx]"), "unknown key 'linkx'"),
    (lambda t: "compute = 3\n" + t.split("[compute]")[0], "'compute' must be a table"),
    (lambda t: t + "always_powered = true\n", "unknown key 'power.always_powered'"),
    (lambda t: "always_powered = true\n" + t, "contradict"),
    (lambda t: 'base = "nope"\n' + t, r"base: 'nope' is not a built-in profile \(paper"),
    (lambda t: t.split("[compute]")[0], "missing table \\[compute\\]"),
    (lambda t: t + "[broken", "invalid TOML"),
    (lambda t: t.replace('name = "my-sat"', 'name = ""'), "profile.name"),
])
def test_bad_files_are_one_line_errors_naming_file_and_key(tmp_path: Path, edit, message: str) -> None:
    path = _write(tmp_path, edit(_FULL))
    with pytest.raises(HardwareError, match=message) as info:
        hardware_profile(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_missing_key_without_base_names_it(tmp_path: Path) -> None:
    text = _FULL.replace("acquisition_s = 45\n", "")
    with pytest.raises(HardwareError, match=r"missing key 'link.acquisition_s' \(no base"):
        hardware_profile(_write(tmp_path, text))
    # with a base the key is inherited
    inherited = hardware_profile(_write(tmp_path, 'base = "cubesat"\n' + text, "b.toml"))
    assert inherited.link.acquisition_s == PROFILES["cubesat"].link.acquisition_s and inherited.link.terminals == 3


def test_oversized_and_binary_files_are_refused_before_parsing(tmp_path: Path) -> None:
    big = _write(tmp_path, "# " + "x" * (64 * 1024) + "\n[[[not toml")
    with pytest.raises(HardwareError, match="more than the 65536 byte limit"):
        hardware_profile(big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"name = \"\xff\xfe\"\n")
    with pytest.raises(HardwareError, match="not a UTF-8 text file"):
        hardware_profile(binary)
    with pytest.raises(HardwareError, match="unknown hardware profile"):
        hardware_profile(tmp_path)  # a folder is neither a name nor a file


@pytest.mark.parametrize("name", ["fedspan.hardware.profiles", "fedspan.hardware.profile_file", "fedspan.hardware.flops",
                                  "fedspan.hardware.fleet"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


_DOC = Path(__file__).resolve().parents[1] / "docs" / "physical-model.md"


def test_the_documented_profile_file_loads(tmp_path: Path) -> None:
    text = _DOC.read_text(encoding="utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    profile = hardware_profile(_write(tmp_path, block))
    assert profile.name == "cubesat-click" and profile.link.technology == "optical"
    assert profile.link.max_rate_bps == 20e6 and profile.compute == PROFILES["cubesat"].compute


def test_the_documented_derived_constants_match_the_code() -> None:
    """The docs' table of capacitance and cycles per sample is what the profiles compute."""
    flops = [204_544.0, 5_901_312.0, 17_642_496.0, 75_898_368.0]  # mlp, cnn, cnn-large, resnet: pinned in test_hw_flops
    rows = {}
    for line in _DOC.read_text(encoding="utf-8").split("### Derived optimizer constants")[1].splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] in PROFILES:
            rows[cells[0]] = cells
    assert set(rows) == set(PROFILES)
    for name, cells in rows.items():
        c = PROFILES[name].compute
        assert math.isclose(float(cells[1]), c.capacitance, rel_tol=1e-3), name
        for text, f in zip(cells[4:], flops):
            assert math.isclose(float(text.replace(",", "")), c.cycles_per_sample(f), rel_tol=1e-3), (name, text)


def test_space_links_forward_ccsds_packets_and_the_paper_stores_whole_models(tmp_path: Path) -> None:
    """Every built-in space link forwards at most one CCSDS Space Packet (65 536 octets of data) at a time; the paper
    profile keeps the paper's store and forward; a profile file may set its own packet, or 0 for whole models."""
    assert PROFILES["paper"].link.packet_bits == 0 and PROFILES["paper"].link.link_params().packet_bits == 0
    for name in ("cubesat", "smallsat-edge", "broadband", "iridium-rf"):
        assert PROFILES[name].link.link_params().packet_bits == 65536 * 8
    own = hardware_profile(_write(tmp_path, 'base = "cubesat"\n[link]\npacket_bits = 0\n'))
    assert own.link.link_params().packet_bits == 0
