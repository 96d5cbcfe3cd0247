"""Smoke test of benchmarks/run_all.py: real simulations (Fed-Span's planner included) on a tiny scenario."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import figures  # noqa: E402
import run_all  # noqa: E402
from scenarios import default_suite, quick_suite  # noqa: E402
from sweeps import summarize_k, summarize_weights  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_run_writes_results_figures_and_table(tmp_path):
    before = README.read_text() if README.is_file() else None
    code = run_all.main(["--quick", "--no-speed", "--workers", "1", "--out", str(tmp_path),
                         "--methods", "Fed-Span K=1,distance MST,star FedAvg (ground)"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    summary = results["scenarios"]["small66-digits-iid"]["summary"]
    assert set(summary["methods"]) == {"Fed-Span K=1", "distance MST", "star FedAvg (ground)"}
    runs = {r["method"]: r for r in results["runs"]}
    fs, mst = runs["Fed-Span K=1"]["curve"], runs["distance MST"]["curve"]
    target = summary["target_accuracy"]
    for c in (fs, mst):  # each run stops at the first round at the target, or at the cap of 6
        acc = c["test_accuracy"]
        assert all(0.0 <= a <= 1.0 for a in acc) and all(a < target for a in acc[:-1])
        assert len(acc) == 6 or acc[-1] >= target
    # Same seed, same data and initial model: the two plans differ, so do their clocks and ledgers.
    assert fs["latency_s"] != mst["latency_s"] and fs["cumulative_energy_j"][-1] > 0
    assert summary["methods"]["star FedAvg (ground)"]["mean_participating"]["mean"] < 66
    png = tmp_path / "accuracy-small66-digits-iid.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "table.md").read_text()
    assert "**Fed-Span K=1**" in table and "distance MST" in table
    assert not (tmp_path / "runs-raw.json").exists()
    assert (README.read_text() if README.is_file() else None) == before  # a smoke run never touches the README


def test_sweep_summaries_and_figures_from_runs(tmp_path):
    def run(k, weights, acc, energy, tag):
        n = len(acc)
        return {"tag": tag, "scenario": "k", "strategy": "fedspan", "num_trees": k, "weights": weights,
                "curve": {"time_s": list(range(n)), "latency_s": [0.1 * k] * n, "test_accuracy": acc,
                          "cumulative_energy_j": [energy * (i + 1) for i in range(n)], "participating": [66] * n}}

    runs = [run(k, [1.0, 1.0, 1.0], [0.2, 0.3 + 0.01 * k], 1.0 + k, "compare") for k in (1, 3)]
    runs += [run(1, [0.0, 1.0, 0.0], [0.1, 0.2], 0.01, "weights"), run(1, [1.0, 0.0, 0.0], [0.2, 0.5], 2.0, "weights")]
    ks = summarize_k(runs, "k", (1, 2, 3))
    assert [r["k"] for r in ks["rows"]] == [1, 3]  # K = 2 was not run: no row is made up for it
    assert ks["rows"][1]["energy_per_round_j"]["mean"] == 4.0 and abs(ks["rows"][1]["mean_latency_s"]["mean"] - 0.3) < 1e-12
    weights = summarize_weights(runs)
    assert sorted(r["weights"] for r in weights["rows"]) == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    sizes = [{"satellites": 66, "planner_s": 3.0, "objective_vs_warm_start": 0.7},
             {"satellites": 264, "planner_s": 30.0, "objective_vs_warm_start": 0.76}]
    for path in (figures.k_figure(tmp_path / "k.png", ks), figures.weights_figure(tmp_path / "w.png", weights),
                 figures.size_figure(tmp_path / "s.png", sizes)):
        assert path.stat().st_size > 5000
    assert figures.k_figure(tmp_path / "none.png", {"scenario": "k", "rows": []}) is None


def test_suites_run_every_baseline_with_the_same_seeds():
    from fedspan.strategies import strategy_names

    for suite in (quick_suite(), default_suite()):
        strategies = {m.strategy for m in suite.methods}
        assert strategies >= set(strategy_names()) - {"replay"}  # every registered policy is compared
        assert max(suite.k_values) >= 3  # the MSF is measured by the K sweep
        assert suite.target_fraction == 0.9
        for scenario in suite.scenarios:  # every method of a scenario runs its seeds (the grid may run fewer)
            for method in suite.methods_for(scenario):
                assert set(scenario.seeds_for(method)) <= set(scenario.seeds)
    default = default_suite()
    for scenario in default.scenarios:
        # three seeds, except the 1M-parameter model and Starlink shell 1 (each one seed: suite time)
        assert len(scenario.seeds) >= 3 or scenario.model_width or scenario.constellation == "starlink-shell1"


def test_size_sweep_spans_66_to_1584_satellites_and_the_quick_suite_stays_tiny():
    from sweeps import WALKER_SHELLS, size_task

    sizes = default_suite().sizes
    assert sizes == tuple(sorted(sizes)) and sizes[0] == 66 and sizes[-1] == 1584 and len(sizes) >= 6
    assert set(sizes) <= set(WALKER_SHELLS)  # every size is a shell the job can build
    assert quick_suite().sizes == (66,)
    assert all(0 < size_task(n)[2] < 10 for n in sizes)  # rough seconds, as Job.cost_hint


def test_scenario_settings_reach_the_runs_and_the_centralised_yardstick(tmp_path):
    from centralised import central_jobs
    from comparison import Job

    suite = default_suite()
    shell = next(s for s in suite.scenarios if s.constellation == "starlink-shell1")
    small = next(s for s in suite.scenarios if s.constellation == "small" and s.hardware == "paper")
    wide = next(s for s in suite.scenarios if s.model_width)
    method = suite.methods[0]
    assert shell.config_dict(method, 0, tmp_path)["lr"] == 0.1
    assert small.config_dict(method, 0, tmp_path)["lr"] == 0.05
    config = wide.config_dict(method, 0, tmp_path)
    assert config["hardware"] == "cubesat" and config["model_width"] == 1280
    keys = {j.key: j.lr for j in central_jobs([shell, small, wide], tmp_path)}
    assert len(keys) == 3 and any("mlp-w1280" in k for k in keys)  # the wide model has its own yardstick
    assert all(k.endswith(f"lr{v:g}") for k, v in keys.items())
    # The pool starts the costly jobs first: bigger constellations, wider models and the planner cost more.
    fedspan = next(m for m in suite.methods if m.is_fedspan)
    baseline = next(m for m in suite.methods if m.label == "BFS tree")
    hints = [Job(s, m, 0, str(tmp_path)).cost_hint / s.rounds for s, m in
             ((small, baseline), (small, fedspan), (shell, baseline), (shell, fedspan))]
    assert hints == sorted(hints) and Job(wide, baseline, 0, "").cost_hint > Job(small, baseline, 0, "").cost_hint


def test_the_stop_rule_is_fixed_before_the_runs(tmp_path):
    from comparison import Job

    suite = default_suite()
    jobs, running, _ = run_all.plan_jobs(suite, tmp_path)  # no shared data here: the bundled digits day remains
    day = next(s for s in suite.scenarios if s.battery)
    assert [s.name for s in running] == [day.name]
    stopped = run_all.stopping([Job(s, suite.methods[0], 0, "") for s in suite.scenarios],
                               {s.name: 0.8 for s in suite.scenarios})
    for job in stopped:  # every run stops at its target, except the battery day, which runs all its rounds
        assert dict(job.overrides).get("stop_at_accuracy") == (None if job.scenario.battery else 0.8)


def _committed_digests() -> dict[str, str]:
    """SHA-256 of every file a benchmark could overwrite: the published results, the docs' images, the README."""
    import hashlib

    root = README.parent
    files = [README, *sorted((root / "benchmarks" / "results").glob("*")), *sorted((root / "docs" / "images").glob("*"))]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def test_quick_run_leaves_the_committed_results_byte_identical(tmp_path, monkeypatch):
    # The README's smoke command, without --out: it must land in the scratch folder, never in benchmarks/results/.
    scratch = tmp_path / "scratch"
    monkeypatch.setattr(run_all, "SCRATCH_DIR", scratch)
    before = _committed_digests()
    assert any(name.startswith("benchmarks/results/") for name in before)
    assert run_all.main(["--quick", "--no-speed", "--workers", "1", "--methods", "Fed-Span K=1"]) == 0
    assert _committed_digests() == before
    assert (scratch / "results.json").is_file() and "`" in (scratch / "table.md").read_text()


def test_publish_is_refused_for_quick_and_partial_runs(capsys):
    import pytest

    for extra in (["--quick"], ["--only", "small"], ["--methods", "Fed-Span K=1"], ["--out", "x"]):
        with pytest.raises(SystemExit) as stop:
            run_all.main(["--publish", "--no-speed", *extra])
        assert stop.value.code == 2
        assert f"drop {extra[0]}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_all.main(["--out", str(Path(run_all.make_table.RESULTS_DIR))])
    assert "use --publish" in capsys.readouterr().err


def test_make_table_publishes_only_a_full_run(tmp_path):
    import make_table

    results = {"mode": "quick", "scenarios": {}, "definitions": {"target": "", "time": "", "cadence": ""},
               "wall_s": 1.0, "cores": 2, "created": "now"}
    (tmp_path / "results.json").write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{make_table.START}\nold\n{make_table.END}\n")
    assert make_table.main(["--results", str(tmp_path), "--readme", str(readme)]) == 0  # table.md only
    assert "old" in readme.read_text() and (tmp_path / "table.md").is_file()
    assert make_table.main(["--results", str(tmp_path), "--readme", str(readme), "--publish"]) == 2
    assert "old" in readme.read_text()
    results["mode"] = "default"
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert make_table.main(["--results", str(tmp_path), "--readme", str(readme), "--publish"]) == 0
    assert "old" not in readme.read_text()
