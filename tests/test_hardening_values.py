"""Values checked where they enter, errors in the user's words (issue #25, items 3 and 7)."""

from __future__ import annotations

import resource
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from cli_run import run_cli
from fedspan.errors import FedSpanWarning

FAST = ["--max-train", "300", "--max-test", "200"]


def _error(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code in (1, 2) and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("text, message", [
    ("max-train = -5", "max-train: -5 is below the minimum 1"),
    ("max-test = -1", "max-test: -1 is below the minimum 1"),
    ("rounds = 1e30", "rounds: 1e+30 is above the maximum 1000000"),
    ("rounds = 0", "rounds: 0 is below the minimum 1"),
    ("terminals = 9223372036854775808", "terminals: 9223372036854775808 is above the maximum 64"),
    ("arrival-rate = -1.0", "arrival-rate: -1.0 is below the minimum 0.0"),
    ("window-s = 1e300", "window-s: 1e+300 is above the maximum 86400"),
])
def test_config_files_get_the_command_lines_bounds(tmp_path, capsys, text, message):
    (tmp_path / "a.toml").write_text(text + "\n")
    code, _, err = run_cli(["run", "--config", str(tmp_path / "a.toml"), "-o", str(tmp_path / "out")], capsys)
    line = _error(code, err)
    assert message in line and "a.toml" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value, message", [
    ("max_train", -5, "--max-train (max_train in a config file) = -5 must be an integer >= 1"),
    ("rounds", 10**30, "--rounds (rounds in a config file) = 10"),
    ("aperture_m", 1e300, "--aperture-m (aperture_m in a config file) = 1e+300 must be a finite number in (0, 10]"),
    ("terminals", 2**63, "must be an integer in 1 .. 64"),
    ("window_s", 1e300, "--window-s (window_s in a config file) = 1e+300 must be in [0, 86400]"),
])
def test_the_library_validates_the_same_bounds(field, value, message):
    from fedspan.simulation import SimulationConfig, SimulationError

    with pytest.raises(SimulationError) as info:
        SimulationConfig(**{field: value}).validate()
    assert message in str(info.value)


def test_aperture_that_would_overflow_the_link_budget_is_refused(tmp_path, capsys):
    code, _, err = run_cli(["run", "--rounds", "1", "--aperture-m", "1e300", "-o", str(tmp_path)], capsys)
    assert "--aperture-m" in _error(code, err) and "OverflowError" not in err


def test_a_window_too_long_to_sample_is_refused_in_words(tmp_path, capsys):
    # Was "error: Maximum allowed size exceeded" (numpy's arange of 1e300 / 60 samples).
    code, _, err = run_cli(["run", "--strategy", "mst", "--rounds", "1", *FAST, "--window-s", "1e300",
                            "-o", str(tmp_path)], capsys)
    line = _error(code, err)
    assert "--window-s" in line and "86400" in line and "Maximum allowed size" not in line


def test_arrival_rates_that_cannot_be_allocated_are_refused_in_words(tmp_path, capsys):
    code, _, err = run_cli(["run", "--strategy", "mst", "--rounds", "1", *FAST, "--partition", "regional",
                            "--arrival-rate", "1e12", "-o", str(tmp_path)], capsys)
    line = _error(code, err)
    assert "lower --arrival-rate" in line and "PiB" not in line and "lam" not in line


def test_a_million_trees_on_66_satellites_is_refused_before_allocating(tmp_path):
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
            "from fedspan.cli import main\n"
            "main(['run', '--strategy', 'mst', '--rounds', '1', '--max-train', '300', '--max-test', '200', "
            "'--num-trees', '1000000', '-o', sys.argv[1]])\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "num_trees = 1000000 is more than the 66 satellites" in done.stderr and "Traceback" not in done.stderr


def test_as_many_trees_as_satellites_plans(tmp_path, capsys):
    code, _, err = run_cli(["plan", "--rounds", "1", "--num-trees", "66", "-o", str(tmp_path)], capsys)
    assert code == 0, err
    import json

    roots = sum(p < 0 for p in json.loads((tmp_path / "plan.json").read_text())["rounds"][0]["parent"])
    assert roots == 66


def test_a_negative_root_index_does_not_wrap_to_the_last_tree():
    from fedspan.faults import FaultError, parse_fault_schedule

    with pytest.raises(FaultError, match="satellite = -1 must be a tree index >= 0"):
        parse_fault_schedule([{"round": 0, "kind": "root", "satellite": -1}], 66, 3)
    assert parse_fault_schedule([{"round": 0, "kind": "root", "satellite": 0}], 66, 3)[0].satellite == 0


def test_a_numeric_station_name_is_not_read_as_satgenpy(tmp_path):
    from orbits import read_ground_stations

    (tmp_path / "gs.csv").write_text("5,48.85,2.35,0.1,10\n")
    (station,) = read_ground_stations(tmp_path / "gs.csv")
    assert (station.name, station.lat_deg, station.lon_deg) == ("5", 48.85, 2.35)
    (tmp_path / "satgenpy.csv").write_text("5,Paris,48.85,2.35,35\n")  # satgenpy: id, name, lat, lon, elev_m
    (station,) = read_ground_stations(tmp_path / "satgenpy.csv")
    assert (station.name, station.lat_deg, station.lon_deg) == ("Paris", 48.85, 2.35)


def test_one_stale_tle_among_fresh_ones_is_warned_about():
    from fedspan.sanity import check_constellation
    from orbits import make_tle

    fresh = datetime(2024, 5, 1, tzinfo=timezone.utc)
    tles = [make_tle(100 + i, fresh, 53.0, 10.0 * i, 0.0001, 0.0, 0.0, 15.06) for i in range(3)]
    tles.append(make_tle(5, datetime(1957, 10, 4, tzinfo=timezone.utc), 65.0, 0.0, 0.05, 0.0, 0.0, 14.0))
    constellation = SimpleNamespace(tles=tles, epoch=fresh, names=[str(i) for i in range(4)])
    positions = np.arange(12, dtype=float).reshape(4, 3) * 1000.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_constellation(constellation, "mixed.tle", fresh, positions)
    texts = [str(w.message) for w in caught if issubclass(w.category, FedSpanWarning)]
    assert len(texts) == 1 and "1 of 4 TLEs have epochs more than 30 days" in texts[0] and "1957-10-04" in texts[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_constellation(SimpleNamespace(tles=tles[:3], epoch=fresh, names=[]), "fresh.tle", fresh, positions[:3])
    assert not [w for w in caught if issubclass(w.category, FedSpanWarning)]


def test_memory_limit_errors_are_one_line(tmp_path):
    """Under `ulimit -v` an allocation fails as one error line, not a numpy traceback."""
    code = ("import resource, sys\nfrom fedspan.cli import main\n"
            "import numpy as np\n"
            "import fedspan.simulation as simulation\n"
            "def hungry(*a, **k):\n    np.empty(1 << 40)\n"
            "simulation.build_scenario = hungry\n"
            "main(['plan', '--strategy', 'mst', '--rounds', '1', '-o', sys.argv[1]])\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: out of memory"), done.stderr[-2000:]
    assert "_ArrayMemoryError" not in done.stderr and resource is not None
