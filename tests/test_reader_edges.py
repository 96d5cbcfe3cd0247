"""Regression tests for the rough edges a reader met (issue 23): replaying an "auto" plan that falls back,
faults said on the console, fault extra energy never negative, `constellation export -o`, help at 80 columns,
bad options refused fast."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from fedspan.horizon import plan_context, plan_horizon, write_plan
from fedspan.simulation import SimulationConfig, build_scenario, make_policy
from fedspan.strategies import make_strategy

FAST = dict(max_train=300, max_test=200)


def test_auto_plan_that_falls_back_replays_without_type_error(tmp_path):
    config = SimulationConfig(strategy="mst", rounds=1, **FAST)
    scenario, _ = build_scenario(config, bits=1e5)
    weights = np.full(scenario.num_satellites, 20.0)
    (record,) = plan_horizon(scenario, make_policy(config), 1, 600.0, weights)
    path = write_plan(tmp_path / "plan.json", [record], scenario, {"num_trees": "auto"})
    ctx = plan_context(scenario, 0, 0.0, weights, 10.0, 5, 32, 1, 0)
    available = ctx.available.copy()
    available[3] = False  # a satellite the plan spans is gone: the round falls back to the distance forest
    plan = make_strategy("replay", plan_file=str(path)).plan_round(replace(ctx, available=available))
    assert "distance forest used instead" in plan.info["fallback"]
    assert plan.participating.sum() == len(available) - 1 and not plan.participating[3]
    assert json.loads(path.read_text())["options"]["num_trees"] == "auto"


def test_faults_are_said_on_the_console_and_extra_energy_is_never_negative(tmp_path, capsys):
    import csv

    from cli_run import run_cli

    code, out, err = run_cli(["run", "--preset", "small", "--strategy", "mst", "--rounds", "2", "--max-train", "200",
                              "--max-test", "200", "--faults", '[{"round": 1, "kind": "root"}]', "--fault-rate", "0.05",
                              "-o", str(tmp_path)], capsys)
    assert code == 0, err
    said = out + err
    assert "round 1: root fault: satellite" in said and "promoted to root" in said and "J not spent" in said
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    extra = [float(r["fault_extra_energy_j"]) for r in rows]
    saved = [float(r["fault_saved_energy_j"]) for r in rows]
    assert all(v >= 0 for v in extra + saved) and any(v > 0 for v in saved)  # the dead stop spending: a saving


def test_constellation_export_takes_dash_o_like_every_command(tmp_path, capsys):
    from cli_run import run_cli

    code, out, err = run_cli(["constellation", "export", "--format", "satgenpy", "--preset", "small",
                              "-o", str(tmp_path / "hyp")], capsys)
    assert code == 0, err
    assert (tmp_path / "hyp" / "tles.txt").is_file() and (tmp_path / "hyp" / "isls.txt").is_file()
    code, _, err = run_cli(["constellation", "export", "--format", "satgenpy", "--preset", "small",
                            "-o", str(tmp_path / "a"), str(tmp_path / "b")], capsys)
    assert code != 0 and "two output folders" in err and not (tmp_path / "a").exists()
    code, _, err = run_cli(["constellation", "export", "--format", "satgenpy"], capsys)
    assert code != 0 and "-o FOLDER" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["run"], ["plan"], ["compare"], ["constellation", "export"],
                                     ["constellation", "walker"]])
def test_help_at_80_columns_keeps_every_name_whole_and_shows_defaults(command, capsys, monkeypatch):
    import click
    import typer

    from cli_run import run_cli
    from fedspan.cli.app import app

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli([*command, "--help"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in out
    cmd = typer.main.get_command(app)
    for word in command:
        cmd = cmd.commands[word]
    with click.Context(cmd, info_name=" ".join(command)) as ctx:
        for param in cmd.get_params(ctx):
            for name in [*param.opts, *param.secondary_opts]:
                if name.startswith("-"):
                    assert name in out, name  # every spelling, whole
    if command == ["run"]:
        assert len(lines) < 200  # was 251 at 80 columns
        assert "Scenario:" in out and "Learning:" in out  # options grouped
        rounds = lines.index("  --rounds <int>")
        assert "[default: 10]" in lines[rounds + 1]
        assert any("--skip-bad-tles / --no-skip-bad-tles" in line for line in lines)


@pytest.mark.parametrize("args", [["run", "--nope"], ["compare", "--rounds", "x"], ["plan", "--schedule", "nope"]])
def test_bad_options_are_refused_without_importing_torch(args):
    import subprocess
    import sys
    from pathlib import Path

    # Refusing a usage error must not wait for the registries' imports (torch, scikit-learn: seconds).
    probe = ("import sys, time\nt = time.perf_counter()\nfrom fedspan.cli import main\n"
             f"try:\n    main({args!r})\nexcept SystemExit as e:\n    code = e.code\n"
             "print(code, time.perf_counter() - t, 'torch' in sys.modules, 'sklearn' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    code, seconds, torch_loaded, sklearn_loaded = done.stdout.split()
    assert code == "2" and "error:" in done.stderr
    assert (torch_loaded, sklearn_loaded) == ("False", "False"), done.stderr
    assert float(seconds) < 5.0  # about 0.1 s unloaded; the import-free path is what keeps it there
