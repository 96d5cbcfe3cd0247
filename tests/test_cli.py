"""The `fedspan` command line end to end on the small shell, and its answers to bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_run import run_cli

FAST_FEDSPAN = ["--strategy-option", "sca_iters=2", "--strategy-option", "search_time_s=0.2"]




@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_plan_run_compare_end_to_end(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan_dir, run_dir, cmp_dir = workdir / "plan", workdir / "run", workdir / "compare"
    code, out, err = run_cli(["plan", "--preset", "small", "--rounds", "2", "--round-interval", "300",
                              *FAST_FEDSPAN, "-o", str(plan_dir)], capsys)
    assert code == 0, err
    doc = json.loads((plan_dir / "plan.json").read_text())
    assert doc["constellation"]["satellites"] == 66 and len(doc["rounds"]) == 2
    for rec in doc["rounds"]:
        parent = rec["parent"]
        assert sum(p < 0 for p in parent) == len(rec["roots"]) >= 1
        assert rec["latency_s"] > 0 and rec["energy_j"] > 0
        assert rec["solver"]["sca_iterations"] >= 1
    for png in ("forest-map.png", "round-costs.png", "sca-objective.png"):
        assert (plan_dir / png).stat().st_size > 5000, png
    assert "Fed-Span plan" in out

    code, out, err = run_cli(["run", "--preset", "small", "--rounds", "2", "--round-interval", "300",
                              "--plan", str(plan_dir / "plan.json"), "--max-train", "600", "-o", str(run_dir)],
                             capsys)
    assert code == 0, err
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [int(r["round"]) for r in rows] == [0, 1]
    assert all(not r["fallback"] for r in rows), "a replayed plan must not fall back"
    # The replayed rounds cost what the planner predicted for them.
    for r, rec in zip(rows, doc["rounds"]):
        assert float(r["latency_s"]) == pytest.approx(rec["latency_s"], rel=1e-9)
    assert (run_dir / "accuracy.png").exists() and (run_dir / "config.toml").exists()

    code, out, err = run_cli(["compare", "--preset", "small", "--rounds", "2", "--strategies", "mst,bfs,star",
                              "--max-train", "600", "-o", str(cmp_dir)], capsys)
    assert code == 0, err
    summary = list(csv.DictReader((cmp_dir / "summary.csv").open()))
    assert sorted(s["method"] for s in summary) == ["bfs", "mst", "star"]
    assert [int(s["rank"]) for s in summary] == [1, 2, 3] and "Ranking: time to target" in out
    # The echo records what each method ran with, beside the defaults.
    assert "#   star: local steps 5, batch 32" in (cmp_dir / "config.toml").read_text()
    assert "#   mst: local steps 5" in (cmp_dir / "mst" / "config.toml").read_text()
    assert all(0.0 <= float(s["final_accuracy"]) <= 1.0 for s in summary)
    assert len(list(csv.DictReader((cmp_dir / "compare.csv").open()))) == 6
    assert (cmp_dir / "accuracy.png").exists() and (cmp_dir / "cost-by-method.png").exists()


def test_config_file_supplies_options_and_is_echoed(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = workdir / "run.toml"
    cfg.write_text('preset = "small"\nrounds = 1\nstrategy = "bfs"\n[run]\nmax-train = 300\n')
    out_dir = workdir / "from-config"
    code, _, err = run_cli(["run", "--config", str(cfg), "-o", str(out_dir)], capsys)
    assert code == 0, err
    echoed = (out_dir / "config.toml").read_text()
    assert 'strategy = "bfs"' in echoed and "max-train = 300" in echoed
    # The echoed file reproduces the run.
    again = workdir / "again"
    code, _, err = run_cli(["run", "--config", str(out_dir / "config.toml"), "-o", str(again)], capsys)
    assert code == 0, err
    assert (again / "metrics.csv").read_text() == (out_dir / "metrics.csv").read_text()


@pytest.mark.parametrize("args, expected", [
    (["plan", "--constellation", "/no/such/file.tle"], "no such TLE file"),
    (["plan", "--preset", "nope"], "unknown preset 'nope'"),
    (["plan", "--rounds", "-3"], "--rounds"),
    (["plan", "--trees", "zero"], "--trees"),
    (["plan", "--weights", "1,2"], "--weights"),
    (["run", "--partition", "weird", "--rounds", "1"], "partition"),
    (["compare", "--strategies", "mst,teleport"], "unknown strategy teleport"),
    (["constellation", "walker", "--preset", "nope", "-o", "x.tle"], "unknown preset"),
])
def test_bad_options_exit_nonzero_with_a_clear_message(args: list[str], expected: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(args, capsys)
    assert code != 0
    assert expected in out + err
    assert "Traceback" not in out + err


def test_corrupt_tle_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orbits.walker import write_preset

    good = tmp_path / "good.tle"
    write_preset("small", good)
    lines = good.read_text().splitlines()
    lines[4] = lines[4][:20] + "X" + lines[4][21:]  # line 5: line 1 of the second satellite, checksum broken
    bad = tmp_path / "bad.tle"
    bad.write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(["constellation", "info", str(bad)], capsys)
    assert code != 0
    assert "bad.tle" in err and ":5" in err
    assert "Traceback" not in err


def test_unknown_config_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("roundz = 3\n")
    code, out, err = run_cli(["plan", "--config", str(cfg)], capsys)
    assert code != 0 and "roundz" in out + err


def test_walker_writes_a_file_the_reader_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orbits.tle import read_tle

    path = tmp_path / "iridium.tle"
    code, out, _ = run_cli(["constellation", "walker", "--walker", "86.4:66/6/2", "--altitude", "780",
                            "-o", str(path)], capsys)
    assert code == 0 and "66 satellites" in out
    assert len(read_tle(path)) == 66


def test_console_script_debug_shows_traceback(tmp_path: Path) -> None:
    base = [sys.executable, "-c", "from fedspan.cli import main; main()", "constellation", "info",
            str(tmp_path / "missing.tle")]
    quiet = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 1 and quiet.stderr.startswith("error: ") and "Traceback" not in quiet.stderr
    loud = subprocess.run(base + ["--debug"], capture_output=True, text=True, timeout=120)
    assert loud.returncode != 0 and "Traceback" in loud.stderr


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    for command in ("plan", "run", "compare", "constellation"):
        assert command in out
