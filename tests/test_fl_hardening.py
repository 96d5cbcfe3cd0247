"""Hardening of the simulation layer: odd constellations, budgets, resumes, locks, replays, progress."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import torch

from fedspan.checkpoint import CheckpointError, SimulationState, load_checkpoint, save_checkpoint
from fedspan.errors import FedSpanWarning
from fedspan.horizon import PlanFileError, PlanWriter, plan_context, plan_horizon, read_plan, write_plan
from fedspan.progress import ProgressReporter
from fedspan.runlock import FolderBusyError, lock_output_folder
from fedspan.sanity import ConstellationError
from fedspan.simulation import SimulationConfig, build_scenario, make_policy, run_simulation
from fedspan.strategies import StrategyError, make_strategy
from orbits.tle import make_tle, write_tle
from fedspan.metrics import RoundMetrics

# A checkpoint of next_round = 1 holds round 0's metrics row (rows are checked for continuity).
ROUND_0 = RoundMetrics(round=0, time_s=0.0, latency_s=1.0, idle_s=0.0, energy_j=1.0, cumulative_energy_j=1.0,
                       test_accuracy=0.5, test_loss=1.0, train_loss=1.0, participating=2,
                       available=2, messages=2, num_roots=1).to_dict()

EPOCH = datetime(2024, 5, 12, tzinfo=timezone.utc)
FAST = dict(max_train=300, max_test=200)


def tle_file(path: Path, orbits: list[tuple[float, float, float]]) -> str:
    """A TLE file of circular orbits given as (mean motion rev/day, RAAN deg, mean anomaly deg)."""
    write_tle(path, [make_tle(100 + i, EPOCH, 53.0, raan, 0.0, 0.0, anomaly, motion, name=f"SAT-{i}")
                     for i, (motion, raan, anomaly) in enumerate(orbits)])
    return str(path)


def test_a_single_satellite_is_its_own_tree(tmp_path):
    con = tle_file(tmp_path / "one.tle", [(15.05, 0.0, 0.0)])
    result = run_simulation(SimulationConfig(constellation=con, rounds=1, strategy_options={"sca_iters": 1}, **FAST))
    row = result.metrics[0]
    assert row.participating == 1 and row.num_roots == 1 and "no feasible link" in row.fallback


def test_far_apart_satellites_plan_one_tree_each_and_warn_about_leo(tmp_path):
    con = tle_file(tmp_path / "far.tle", [(0.5, 60.0 * i, 0.0) for i in range(6)])
    with pytest.warns(FedSpanWarning, match="not low Earth orbit"):
        scenario, _ = build_scenario(SimulationConfig(constellation=con, rounds=1), bits=1e5)
    policy = make_policy(SimulationConfig(constellation=con, strategy_options={"sca_iters": 1}))
    (record,) = plan_horizon(scenario, policy, 1, 600.0, np.full(6, 50.0))
    assert record.parent == [-1] * 6 and len(record.roots) == 6


def test_co_located_satellites_are_named(tmp_path):
    con = tle_file(tmp_path / "twins.tle", [(15.05, 0.0, 0.0), (15.05, 0.0, 0.0), (15.05, 0.0, 90.0)])
    with pytest.raises(ConstellationError, match=r"satellites 0 \(SAT-0\) and 1 \(SAT-1\).*same position"):
        build_scenario(SimulationConfig(constellation=con), bits=1e5)


def test_a_start_decades_from_the_epoch_warns():
    with pytest.warns(FedSpanWarning, match="days from the newest TLE epoch"):
        build_scenario(SimulationConfig(start=datetime(2054, 1, 1, tzinfo=timezone.utc)), bits=1e5)


def test_a_budget_too_small_for_any_round_warns_and_keeps_going(tmp_path):
    config = SimulationConfig(strategy="mst", rounds=3, energy_budget_j=0.001, output_dir=str(tmp_path), **FAST)
    with pytest.warns(FedSpanWarning, match="0 participants"):
        result = run_simulation(config)
    assert [m.participating for m in result.metrics] == [0, 0, 0]
    assert np.isfinite(result.final_accuracy)


@pytest.mark.parametrize("bad, field", [(dict(seed=-1), "seed"), (dict(seed=10**20), "seed"),
                                         (dict(round_interval_s=float("inf")), "round_interval_s")])
def test_out_of_range_numbers_are_named(bad, field):
    with pytest.raises(ValueError, match=field):
        SimulationConfig(**bad).validate()


def test_policy_option_of_the_wrong_type_is_named():
    with pytest.raises(ValueError, match="sca_iters='abc'"):
        make_policy(SimulationConfig(strategy_options={"sca_iters": "abc"}))


def test_extending_a_run_equals_a_straight_run_or_is_refused(tmp_path):
    base = dict(strategy="mst", lr=0.1, seed=3, **FAST)
    run_simulation(SimulationConfig(rounds=4, output_dir=str(tmp_path / "straight"), **base))
    run_simulation(SimulationConfig(rounds=2, output_dir=str(tmp_path / "extended"), **base))
    run_simulation(SimulationConfig(rounds=4, output_dir=str(tmp_path / "extended"), **base))
    assert (tmp_path / "straight" / "metrics.csv").read_bytes() == (tmp_path / "extended" / "metrics.csv").read_bytes()
    # Fed-Span plans with the number of rounds (convergence bound): a longer run is refused, not silently different.
    short, long = SimulationConfig(rounds=4), SimulationConfig(rounds=12)
    assert short.fingerprint() != long.fingerprint()
    assert SimulationConfig(strategy="mst", rounds=4).fingerprint() == SimulationConfig(strategy="mst", rounds=12).fingerprint()
    state = SimulationState(next_round=1, models=torch.ones(1, 3), model_weight=np.ones(1),
                            holder=np.zeros(2, np.int64), dead=np.zeros(2, bool), energy_used_j=np.zeros(2),
                            next_time_s=0.0, last_latency_s=0.0, ledger={"num_satellites": 2, "records": []},
                            metrics=[ROUND_0])
    path = save_checkpoint(tmp_path / "checkpoint.pt", state, short.fingerprint())
    with pytest.raises(CheckpointError, match="rounds = 4.*would not equal a straight run"):
        load_checkpoint(path, long.fingerprint())


def test_metrics_csv_grows_every_round(tmp_path):
    lines = []
    run_simulation(SimulationConfig(strategy="mst", rounds=3, output_dir=str(tmp_path), **FAST),
                   on_round=lambda m: lines.append(len((tmp_path / "metrics.csv").read_text().splitlines())))
    assert lines == [2, 3, 4]  # header + one line per finished round, on disk before the run ends


_HOLD = ("import sys, time\nfrom fedspan.runlock import lock_output_folder\n"
         "with lock_output_folder(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(60)\n")


def test_a_second_process_on_the_same_folder_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderBusyError, match=rf"in use by another fedspan run \(pid {holder.pid}\)"):
            run_simulation(SimulationConfig(strategy="mst", rounds=1, output_dir=str(tmp_path), **FAST))
        assert not (tmp_path / "metrics.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    with lock_output_folder(tmp_path):  # released when its holder died, even by SIGKILL
        with lock_output_folder(tmp_path):  # and re-entrant inside one process
            pass


def test_plan_json_rewrites_are_linear_in_the_rounds():
    now = [0.0]

    def clock():
        return now[0]

    writer = PlanWriter(Path("unused"), None, {}, clock=clock)
    writer._write = lambda planned: (setattr(writer, "writes", writer.writes + 1),  # type: ignore[method-assign]
                                     setattr(writer, "_written_rounds", len(planned)),
                                     setattr(writer, "_next_due", now[0] + max(1.0, len(planned) * 1e-3 / 0.1)))
    planned: list = []
    for _ in range(100_000):  # 10 ms per round, a write costs 1 us per round in the file
        planned.append(None)
        now[0] += 0.01
        writer.update(planned)
    assert writer.writes < 200  # every round would be 100,000 writes of ever longer files


@pytest.fixture(scope="module")
def plan_setup(tmp_path_factory):
    """A 1-round distance-MST plan of the small shell, its scenario and a context to replay it in."""
    folder = tmp_path_factory.mktemp("plan")
    config = SimulationConfig(strategy="mst", rounds=1, **FAST)
    scenario, _ = build_scenario(config, bits=1e5)
    weights = np.full(scenario.num_satellites, 20.0)
    (record,) = plan_horizon(scenario, make_policy(config), 1, 600.0, weights)
    path = write_plan(folder / "plan.json", [record], scenario, {"trees": "1"})
    ctx = plan_context(scenario, 0, 0.0, weights, 10.0, 5, 32, 1, 0)
    return folder, json.loads(path.read_text()), ctx


def _edited(folder: Path, doc: dict, name: str, edit) -> str:
    doc = json.loads(json.dumps(doc))
    edit(doc)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _leaf_and_far_satellite(ctx, parent: list[int]) -> tuple[int, int]:
    """A leaf of the planned forest and a satellite it has no candidate link to (re-hanging a leaf keeps a forest)."""
    linked = {tuple(e) for e in np.sort(ctx.snapshot.edges, axis=1).tolist()}
    leaf = next(i for i in range(len(parent)) if i not in parent)
    far = next(j for j in range(len(parent)) if j != leaf and (min(leaf, j), max(leaf, j)) not in linked)
    return leaf, far


@pytest.mark.parametrize("name, edit, error, match", [
    ("no-constellation", lambda d: d.pop("constellation"), PlanFileError, "lacks 'constellation'"),
    ("no-parent", lambda d: d["rounds"][0].pop("parent"), PlanFileError, "lacks 'parent'"),
    ("parent-range", lambda d: d["rounds"][0]["parent"].__setitem__(3, 66), PlanFileError, r"parent\[3\] = 66"),
    ("parent-float", lambda d: d["rounds"][0]["parent"].__setitem__(3, 1.5), PlanFileError, r"parent\[3\] = 1.5"),
    ("negative-cpu", lambda d: d["rounds"][0]["cpu_hz"].__setitem__(3, -5e8), PlanFileError, r"cpu_hz\[3\]"),
    ("bad-trees", lambda d: d["options"].__setitem__("trees", "many"), PlanFileError, "options.trees"),
    ("huge-steps", lambda d: d["rounds"][0]["local_steps"].__setitem__(3, 10**9), StrategyError,
     r"local_steps\[3\] = 1e\+09 is outside"),
    ("slow-cpu", lambda d: d["rounds"][0]["cpu_hz"].__setitem__(3, 1.0), StrategyError, r"cpu_hz\[3\] = 1 is outside"),
    ("other-constellation", lambda d: d["constellation"]["names"].__setitem__(0, "IRIDIUM 100"), StrategyError,
     "whose satellites"),
])
def test_replayed_plans_are_validated(plan_setup, name, edit, error, match):
    folder, doc, ctx = plan_setup
    path = _edited(folder, doc, name, edit)
    with pytest.raises(error, match=match):
        make_strategy("replay", plan_file=path).plan_round(ctx)


def test_replayed_tree_links_must_be_links_of_the_scenario(plan_setup):
    folder, doc, ctx = plan_setup
    leaf, far = _leaf_and_far_satellite(ctx, doc["rounds"][0]["parent"])
    path = _edited(folder, doc, "far-link", lambda d: d["rounds"][0]["parent"].__setitem__(leaf, far))
    read_plan(Path(path))  # still a well-formed forest
    with pytest.raises(StrategyError, match="not links of this scenario"):
        make_strategy("replay", plan_file=path).plan_round(ctx)


def test_auto_trees_plans_replay(plan_setup):
    folder, doc, ctx = plan_setup
    path = _edited(folder, doc, "auto", lambda d: d["options"].__setitem__("trees", "auto"))
    plan = make_strategy("replay", plan_file=path).plan_round(ctx)
    assert plan.participating.sum() == len(ctx.available)


def test_piped_progress_logs_lines_and_a_heartbeat():
    stream = io.StringIO()
    with ProgressReporter("planning 50000 satellites", 2, stream=stream, heartbeat_s=0.05) as bar:
        bar.working("planning round 0 (50000 satellites, about 417 clusters of <= 120)")
        time.sleep(0.2)
        bar.advance(1, "round 0: 0.5 s")
        bar.advance(2, "round 1: 0.5 s")
    text = stream.getvalue()
    assert "still planning round 0 (50000 satellites, about 417 clusters" in text
    assert "2/2 done, round 1: 0.5 s" in text
    assert all(line.startswith("[") for line in text.splitlines())
