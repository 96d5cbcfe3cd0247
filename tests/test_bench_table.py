"""Table generator and summaries of the benchmark suite, on small synthetic results."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import make_table  # noqa: E402
from speed import parse_ratios  # noqa: E402
from summary import first_reached, run_outcome, spread, summarize_scenario  # noqa: E402


def curve(acc, latency=1.0, energy=10.0, start=0.0):
    """A run curve with constant latency/energy per back-to-back round."""
    n = len(acc)
    times = [start + i * latency for i in range(n)]
    return {"time_s": times, "latency_s": [latency] * n, "idle_s": [0.0] * n, "energy_j": [energy] * n,
            "cumulative_energy_j": [energy * (i + 1) for i in range(n)], "test_accuracy": list(acc),
            "participating": [66] * n, "num_roots": [1] * n}


def run(method, seed, acc, **kw):
    return {"tag": "compare", "scenario": "s", "method": method, "seed": seed, "weights": [1.0, 1.0, 1.0],
            "num_trees": 1, "strategy": "fedspan" if method.startswith("Fed-Span") else "mst", "wall_s": 1.0,
            "fallback_rounds": 0, "curve": curve(acc, **kw)}


def synthetic_runs():
    # Fed-Span: cheap fast rounds but learns slowly (reaches the target in 2 of 3 seeds);
    # the MST learns fast with costly rounds.
    return ([run("Fed-Span K=1", s, a, latency=0.5, energy=1.0)
             for s, a in enumerate(([0.1, 0.5, 0.7, 0.75], [0.1, 0.4, 0.6, 0.73], [0.1, 0.2, 0.3, 0.4]))]
            + [run("distance MST", s, [0.3, 0.7, 0.8, 0.9], latency=1.5, energy=12.0) for s in range(3)])


def test_run_outcome_by_hand():
    out = run_outcome(curve([0.1, 0.5, 0.8], latency=2.0, energy=3.0), target=0.5)
    # reached in round 1, which starts at t = 2 s and ends 2 s later; 2 rounds of 3 J spent
    assert out["time_to_target_s"] == 4.0 and out["energy_to_target_j"] == 6.0
    assert out["mean_latency_s"] == 2.0 and out["final_accuracy"] == 0.8 and out["energy_per_round_j"] == 3.0
    assert run_outcome(curve([0.1, 0.2]), 0.5)["time_to_target_s"] is None


def test_spread_matches_numpy_and_skips_missing():
    values = [1.0, 4.0, None, 2.5]
    s = spread(values)
    assert s["n"] == 3 and s["of"] == 4
    assert math.isclose(s["mean"], np.mean([1, 4, 2.5])) and math.isclose(s["std"], np.std([1, 4, 2.5], ddof=1))
    assert spread([None, None])["mean"] is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.floats(0, 1), st.floats(0, 1))
def test_first_reached_is_monotone_in_the_target(acc, t1, t2):
    low, high = sorted((t1, t2))
    a, b = first_reached(acc, low), first_reached(acc, high)
    if b is not None:
        assert a is not None and a <= b and acc[b] >= high
    if a is not None:
        assert all(x < low for x in acc[:a])


def test_summary_target_ratios_and_winners():
    summary = summarize_scenario(synthetic_runs(), 0.72, "Fed-Span K=1")  # e.g. 90 % of a centralised 0.8
    assert math.isclose(summary["target_accuracy"], 0.72)
    fs, mst = summary["methods"]["Fed-Span K=1"], summary["methods"]["distance MST"]
    assert fs["time_to_target_s"]["n"] == 2 and fs["time_to_target_s"]["of"] == 3
    assert mst["time_to_target_s"]["mean"] == 3.0 + 1.5  # 0.8 >= 0.72 in round 2: starts at 3 s, lasts 1.5 s
    ratios = summary["ratios"]["distance MST"]
    assert ratios["time_to_target_s"] is None  # Fed-Span missed the target in one seed
    assert math.isclose(ratios["mean_latency_s"], 0.5 / 1.5)
    assert summary["best"]["mean_latency_s"] == ["Fed-Span K=1"]
    assert summary["best"]["final_accuracy"] == ["distance MST"]
    assert summary["best"]["time_to_target_s"] == ["distance MST"]
    claim = summary["claim"]  # Fed-Span misses the target in one seed: it wins neither time nor energy
    assert not claim["first_in_time"] and not claim["least_energy"] and not claim["wins"]
    assert math.isclose(claim["accuracy_gap_points"], 100 * (0.9 - np.mean([0.75, 0.73, 0.4])))
    assert fs["rounds"] == 4


def test_bound_correlation_is_spearman_over_rounds_and_needs_three_rounds():
    from summary import bound_correlation

    c = {"predicted_decrease": [-0.5, -0.4, -0.2, 0.1], "observed_decrease": [0.01, 0.02, 0.05, 0.3]}
    assert bound_correlation(c) == 1.0
    c["observed_decrease"] = [0.3, 0.05, 0.02, 0.01]
    assert bound_correlation(c) == -1.0
    assert bound_correlation({"predicted_decrease": [1.0, 2.0], "observed_decrease": [1.0, 2.0]}) is None
    assert bound_correlation({"test_accuracy": [0.1]}) is None  # curves from before the probe existed


def write_results(folder: Path) -> Path:
    summary = summarize_scenario(synthetic_runs(), 0.72, "Fed-Span K=1")
    spec = {"constellation": "small", "dataset": "digits", "partition": "iid", "alpha": 0.3, "rounds": 4,
            "seeds": [0, 1, 2], "note": "", "left_out": "gossip: suite time"}
    results = {"mode": "default", "created": "now", "wall_s": 60.0, "cores": 2, "figures": ["a.png"],
               "definitions": {"target": "T.", "time": "t.", "cadence": "c."}, "skipped": [
                   {"scenario": "eurosat", "reason": "/data/eurosat not present"}], "failures": [],
               "scenarios": {"s": {"spec": spec, "summary": summary}},
               "sizes": [{"satellites": 66, "candidate_edges": 249, "planner_s": 3.0,
                          "objective_vs_warm_start": 0.75, "status": "converged"}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "speed.json").write_text(json.dumps({"benchmarks": [
        {"script": "bench_orbits.py", "flags": ["--quick"], "status": "ok",
         "ratios": [{"section": "shell", "line": "fast is 488x faster", "ratio": 488.0}]}]}))
    return folder


def test_table_states_wins_losses_and_misses(tmp_path):
    table = make_table.build(write_results(tmp_path)).read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    fs = rows["**Fed-Span K=1**"]
    assert "(2/3 seeds)" in fs and "0.500 ± 0.000 ★" in fs  # latency: Fed-Span best, all seeds equal
    assert "time —" in rows["distance MST"] and "latency 0.33" in rows["distance MST"]
    claim = next(line for line in table.splitlines() if line.startswith("| s | "))
    assert "| s | ✗ |" in claim and "distance MST: 3 rounds x 1.5 s; Fed-Span K=1: not reached in every seed" in claim  # the loss and its cause are stated
    assert "skipped **eurosat**: /data/eurosat not present" in table
    assert "left out: gossip: suite time" in table  # the methods a setting did not run, and why
    assert "| bench_orbits.py | --quick | ok | 488.0x |" in table
    assert "| 66 | 249 | 3.0 | 0.750 | converged |" in table
    assert "in **0 of 1** scenarios" in table  # the claim is counted from the suite's own numbers


def test_readme_section_is_replaced_between_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\nintro\n{make_table.START}\nold table\n{make_table.END}\nafter\n")
    make_table.build(write_results(tmp_path / "r"), readme)
    text = readme.read_text()
    assert text.startswith("# Title\nintro\n" + make_table.START + "\n") and text.endswith(make_table.END + "\nafter\n")
    assert "old table" not in text and "Fed-Span K=1" in text
    make_table.build(tmp_path / "r", readme)  # idempotent
    assert readme.read_text() == text


def test_bad_inputs_raise_table_errors_naming_the_file(tmp_path):
    with pytest.raises(make_table.TableError, match="results.json: cannot read"):
        make_table.build(tmp_path)
    (tmp_path / "results.json").write_text('{"mode": "default",\n "scenarios": }')
    with pytest.raises(make_table.TableError, match=r"results.json:2: not valid JSON"):
        make_table.build(tmp_path)
    (tmp_path / "results.json").write_text('{"mode": "default"}')
    with pytest.raises(make_table.TableError, match="missing key 'scenarios'"):
        make_table.build(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    with pytest.raises(make_table.TableError, match="markers"):
        make_table.replace_section(readme.read_text(), "x", str(readme))
    assert make_table.main(["--results", str(tmp_path / "absent"), "--no-readme"]) == 2


def test_parse_ratios_from_layer_benchmark_output():
    text = ("== Starlink shell 1: 1584 satellites, 300 snapshots\n"
            "naive (Skyfield ...), 1 sampled steps: 1.86 s/step -> 0.15 h; fast is 1,488x faster\n"
            "numpy (vectorized), same steps: 758.3 ms/step; fast is 199.3x faster\n"
            "  speed-up           :     12.5 x   (goal >= 5x)\n"
            "walker 66: N=66 E=249 K=4\n  gp/fast first solve 7.41s/1.06s = 7.0x, re-solve 8.04s/0.50s = 16.1x\n"
            "max difference 2.27e-15 and an index x1\n")
    found = parse_ratios(text)
    assert [r["ratio"] for r in found] == [1488.0, 199.3, 12.5, 7.0, 16.1]  # the goal '>= 5x' is not a ratio
    assert found[0]["section"].startswith("Starlink shell 1") and found[-1]["section"].startswith("walker 66")


def test_parse_ratios_ignores_tensor_shapes():
    # bench_training's payload rows name input shapes like 1x28x28: not a ratio (was read as "1x" and "3x")
    assert parse_ratios("cnn-large 1x28x28  34.7 Mbit  per-client  0.07 s/round") == []
    assert parse_ratios("resnet 3x64x64 ... speed-up : 12.1 x")[0]["ratio"] == 12.1


def test_claim_marks_a_loss_below_the_table_precision_as_a_tie_but_never_counts_it_as_a_win():
    import evidence

    def row(time_s, energy_j):
        return {"role": "main", "time_to_target_s": {"mean": time_s, "n": 3, "of": 3},
                "energy_to_target_j": {"mean": energy_j, "n": 3, "of": 3}}

    summary = {"methods": {"Fed-Span K=1": row(100.2, 50.0), "BFS tree": row(100.0, 60.0)}}
    c = evidence.claim(summary)
    assert c["time"]["tied"] and not c["time"]["won"] and c["energy"]["won"] and not c["energy"]["tied"]
    assert not c["wins"] and c["wins_or_ties"]  # the goal's strict count is unchanged
    assert evidence._mark(c["time"]) == "≈" and evidence._mark(c["energy"]) == "✓"
    far = evidence.claim({"methods": {"Fed-Span K=1": row(101.0, 50.0), "BFS tree": row(100.0, 60.0)}})
    assert not far["time"]["tied"] and not far["wins_or_ties"] and evidence._mark(far["time"]) == "✗"
