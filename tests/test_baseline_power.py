"""The same power management for every baseline (``power=``) and the battery-unaware planning switch.

Each test fails if its part breaks: the simple slowest-clock policy of ring, gossip, star (and fedisl where its
chains are not candidate links) never spends more than race to idle, never lengthens a back-to-back round and
keeps a cadence's deadline; fedisl's exact allocations on its chains beat race to idle; a bad mode is a one-line
error; ``fedspan run`` records the mode; battery_planning="ignore" plans without batteries and counts the
satellites that end below their floor.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from cli_run import run_cli

SIMPLE = ("ring", "gossip", "star")


def _contexts(preset: str):
    """A heterogeneous fleet (two computers) on ``preset``: one cadence and one back-to-back context of round 0."""
    from fedspan.config import SimulationConfig
    from fedspan.horizon import plan_context
    from fedspan.simulation import build_scenario

    scenario, _ = build_scenario(SimulationConfig(constellation=preset, fleet="mix:smallsat-edge=1,broadband=1"))
    weight = np.full(scenario.num_satellites, 200.0)
    return {deadline: plan_context(scenario, 0, 0.0, weight, 60.0, 5, 32, 1, 0, deadline_s=deadline)
            for deadline in (600.0, None)}


@pytest.mark.parametrize("preset,strategy", [("small", s) for s in SIMPLE] + [("iridium", "fedisl")])
def test_slowest_clocks_never_cost_more_nor_lengthen_the_round(preset, strategy):
    """dvfs: energy <= race to idle in every round; back to back the latency does not rise; on a cadence the round
    still meets the deadline; some clock is slower (else nothing was managed); steps, batch and powers kept."""
    from fedspan.strategies import make_strategy

    for deadline, ctx in _contexts(preset).items():
        plans, costs = {}, {}
        for mode in ("default", "dvfs"):
            strategy_obj = make_strategy(strategy, power=mode)
            plans[mode] = strategy_obj.plan_round(ctx)
            costs[mode] = strategy_obj.round_cost(ctx, plans[mode])
        base, managed = plans["default"], plans["dvfs"]
        on = base.participating
        assert managed.info["power"] == "dvfs"
        assert (managed.participating == on).all() and (managed.parent == base.parent).all()
        assert (managed.local_steps == base.local_steps).all() and (managed.batch_size == base.batch_size).all()
        assert (managed.tx_power_w == base.tx_power_w).all()
        assert (managed.cpu_hz <= base.cpu_hz).all() and (managed.cpu_hz[on] < base.cpu_hz[on]).any()
        assert (costs["dvfs"].energy_per_satellite_j <= costs["default"].energy_per_satellite_j * (1 + 1e-12)).all()
        assert costs["dvfs"].energy_j < costs["default"].energy_j
        if deadline is None:
            assert costs["dvfs"].latency_s <= costs["default"].latency_s
        else:
            assert costs["default"].latency_s <= deadline and costs["dvfs"].latency_s <= deadline
    if strategy == "fedisl":  # iridium's knn graph lacks some chain links: the simple policy, and the plan says so
        assert "not candidate links" in managed.info["fallback"]


def test_slowest_clocks_stop_at_the_energy_optimal_clock(tmp_path):
    """With a whole cadence interval of slack every participant runs exactly the energy-optimal clock (static
    power makes slower clocks cost more), not the computer's lowest clock."""
    from optimization.costs import energy_optimal_clock
    from fedspan.config import SimulationConfig
    from fedspan.horizon import plan_context
    from fedspan.simulation import build_scenario
    from fedspan.strategies import make_strategy

    profile = tmp_path / "slow.toml"
    profile.write_text('base = "smallsat-edge"\nname = "slow"\ndescription = "smallsat clocking down to 100 MHz"\n'
                       '[compute]\nmin_clock_hz = 1e8\n', encoding="utf-8")
    scenario, _ = build_scenario(SimulationConfig(constellation="small", hardware=str(profile)))
    ctx = plan_context(scenario, 0, 0.0, np.full(scenario.num_satellites, 200.0), 60.0, 5, 32, 1, 0,
                       deadline_s=600.0)
    res = scenario.resources
    floor = energy_optimal_clock(res.capacitance, res.static_power_w, res.min_cpu_hz, res.max_cpu_hz)
    assert (floor > 2 * res.min_cpu_hz).all()
    for strategy in SIMPLE:
        plan = make_strategy(strategy, power="dvfs").plan_round(ctx)
        assert plan.participating.any()
        assert np.allclose(plan.cpu_hz[plan.participating], floor[plan.participating], rtol=1e-12), strategy


def test_fedisl_prices_its_chains_exactly_where_they_are_candidate_links():
    """On the small preset every chain link is a candidate: dvfs keeps steps and batch and lowers the objective,
    exact lowers it further, both on the fedisl forest itself (the forest baselines' machinery)."""
    from dataclasses import replace

    from optimization import evaluate
    from fedspan.strategies import make_strategy

    ctx = _contexts("small")[600.0]
    plans = {mode: make_strategy("fedisl", power=mode).plan_round(ctx) for mode in ("default", "dvfs", "exact")}
    assert "fallback" not in plans["dvfs"].info and plans["exact"].info["power"] == "exact"
    problem, nodes = ctx.scenario.problem(ctx.snapshot, ctx.available, ctx.sample_weight, 1, deadline_s=600.0)
    local = np.full(len(ctx.available), -1)
    local[nodes] = np.arange(len(nodes))
    parent = plans["default"].parent[nodes]
    sub = np.where(parent >= 0, local[np.maximum(parent, 0)], -1)
    problem = replace(problem, num_trees=int((sub < 0).sum()), learning=replace(problem.learning, mix_every=1))
    value = {mode: evaluate(problem, sub, p.cpu_hz[nodes], p.tx_power_w[nodes], p.local_steps[nodes],
                            p.batch_size[nodes]).objective for mode, p in plans.items()}
    assert (plans["dvfs"].local_steps == 5).all() and (plans["dvfs"].batch_size == 32).all()
    assert value["dvfs"] < value["default"] and value["exact"] <= value["dvfs"] * (1 + 1e-9)


@pytest.mark.parametrize("strategy,bad", [("ring", "exact"), ("gossip", "turbo"), ("star", "exact"),
                                          ("fedisl", "turbo")])
def test_a_bad_power_mode_is_a_one_line_error_naming_the_allowed_values(strategy, bad, capsys, tmp_path):
    """make_strategy refuses it with the allowed modes; so does the CLI, in one line and a non-zero exit."""
    from fedspan.strategies import StrategyError, make_strategy

    allowed = "default, dvfs, exact" if strategy == "fedisl" else "default, dvfs"
    with pytest.raises(StrategyError, match=f"power must be one of {allowed}, got '{bad}'"):
        make_strategy(strategy, power=bad)
    code, _, err = run_cli(["run", "--preset", "small", "--rounds", "1", "--strategy", strategy,
                            "--strategy-options", f"power={bad}", "-o", str(tmp_path / "x")], capsys)
    assert code != 0 and f"power must be one of {allowed}" in err and len(err.strip().splitlines()) == 1


def test_fedspan_run_with_a_managed_ring_spends_less_at_the_same_accuracy(capsys, tmp_path):
    """`fedspan run --strategy ring --strategy-options power=dvfs` (the path users run): slower mean clock, less
    energy, the same training (steps and batch are the run's) as race to idle."""
    rows = {}
    for mode in ("default", "dvfs"):
        out = tmp_path / mode
        code, _, err = run_cli(["run", "--preset", "small", "--rounds", "2", "--strategy", "ring", "--max-train", "300",
                                "--max-test", "100", "--strategy-options", f"power={mode}", "-o", str(out)], capsys)
        assert code == 0, err
        with (out / "metrics.csv").open() as fh:
            rows[mode] = list(csv.DictReader(fh))
    for base, managed in zip(rows["default"], rows["dvfs"]):
        assert float(managed["mean_cpu_hz"]) < float(base["mean_cpu_hz"])
        assert float(managed["energy_j"]) < float(base["energy_j"])
        assert float(managed["latency_s"]) <= 600.0
        assert managed["test_accuracy"] == base["test_accuracy"]
    help_text = " ".join(run_cli(["run", "--help"], capsys)[1].split())
    assert "fedisl take power=default|dvfs|exact" in help_text and "ring, gossip and star power=default|dvfs" in help_text


# --- battery-unaware planning (battery_planning="ignore") ----------------------------------------------------------
#: smallsat-edge batteries (300 Wh, 25 % depth of discharge) with a 3 Tbit model: a transfer costs kJ, so a round
#: planned without batteries drains some below their floor within the first round, while battery-aware planning
#: sits those satellites out.
HEAVY = dict(constellation="small", hardware="smallsat-edge", strategy="bfs", round_interval_s=3000.0,
             model_bits=3e12, max_train=200, max_test=100)


def _battery_rounds(mode: str, rounds: int = 2):
    """Run ``rounds`` steps of the heavy configuration: per round its metrics and every battery after it (J)."""
    import warnings

    from fedspan.clock import EnergyLedger
    from fedspan.simulation import Simulation, SimulationConfig

    sim = Simulation(SimulationConfig(rounds=rounds, battery_planning=mode, **HEAVY))
    state = sim.initial_state()
    ledger = EnergyLedger(sim.num_satellites)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rounds with satellites sat out warn once
        for _ in range(rounds):
            metrics = sim.step(state, ledger)
            out.append((metrics, np.asarray(state.extra["soc_j"], float).copy()))
    return sim, out


def test_battery_unaware_planning_drains_batteries_below_their_floor_and_counts_them():
    """aware: satellites sit out and no battery ends below its floor (0 violations); ignore: nobody sits out,
    batteries still drain as the physics says, and battery_violations counts exactly those below the floor."""
    sim, aware = _battery_rounds("aware")
    _, ignore = _battery_rounds("ignore")
    floor = np.broadcast_to(np.asarray(sim.scenario.power.floor_j, float), (sim.num_satellites,))
    assert sum(m.sat_out for m, _ in aware) > 0 and all(m.battery_violations == 0 for m, _ in aware)
    assert all((soc >= floor).all() for _, soc in aware)
    assert all(m.sat_out == 0 for m, _ in ignore)
    assert [m.battery_violations for m, _ in ignore] == [int((soc < floor).sum()) for _, soc in ignore]
    assert sum(m.battery_violations for m, _ in ignore) > 0
    first = ignore[0][0]
    assert first.participating == first.available  # planned as if unlimited: everyone available trains


def test_battery_planning_is_a_run_option_with_the_new_metrics_column(capsys, tmp_path):
    """--battery-planning in --help; a bad value is a one-line error; `fedspan run --battery-planning ignore`
    writes battery_violations > 0 to metrics.csv, and an aware run's column is 0."""
    help_text = " ".join(run_cli(["run", "--help"], capsys)[1].split())
    assert "--battery-planning" in help_text and "battery_violations" in help_text
    code, _, err = run_cli(["run", "--battery-planning", "sometimes", "-o", str(tmp_path / "bad")], capsys)
    assert code != 0 and "aware, ignore" in err and len(err.strip().splitlines()) == 1
    args = ["run", "--preset", "small", "--hardware", "smallsat-edge", "--strategy", "bfs", "--rounds", "1",
            "--round-interval-s", "3000", "--model-bits", "3e12", "--max-train", "200", "--max-test", "100"]
    counts = {}
    for mode in ("aware", "ignore"):
        code, _, err = run_cli([*args, "--battery-planning", mode, "-o", str(tmp_path / mode)], capsys)
        assert code == 0, err
        with (tmp_path / mode / "metrics.csv").open() as fh:
            counts[mode] = [int(row["battery_violations"]) for row in csv.DictReader(fh)]
    assert counts["aware"] == [0] and counts["ignore"][0] > 0


def test_a_checkpoint_without_the_battery_violations_column_still_resumes(capsys, tmp_path):
    """A checkpoint written before the column (its rows lack the key) resumes, the old rows getting 0."""
    from fedspan.checkpoint import _decode, load_checkpoint, save_checkpoint

    args = ["run", "--preset", "small", "--strategy", "mst", "--rounds", "2", "--max-train", "200", "--max-test",
            "100", "-o", str(tmp_path)]
    assert run_cli([*args[:6], "1", *args[7:]], capsys)[0] == 0
    path = tmp_path / "checkpoint.pt"
    old = load_checkpoint(path)
    for row in old.metrics:
        del row["battery_violations"]
    meta, _ = _decode(path, path.read_bytes())
    save_checkpoint(path, old, meta["fingerprint"])
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    with (tmp_path / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [row["battery_violations"] for row in rows] == ["0", "0"]
