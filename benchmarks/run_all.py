"""Reproduce the README's results: Fed-Span against every baseline, the sweeps, and each layer's speed.

Run: python benchmarks/run_all.py [--quick] [--workers 2] [--out benchmarks/out | --publish] [--no-speed]
     [--only SUBSTRING] [--readme README.md]

Default mode takes under 75 minutes on 2 cores, ``--quick`` (CI smoke) under 3 (the README states the measured
times). Writes
``results.json`` (definitions, per-run curves, summaries, sweeps), ``speed.json``, PNG figures and ``table.md``
into the scratch folder ``benchmarks/out/`` (ignored by git) or ``--out``. Only ``--publish`` (a full default-mode
run of every scenario and method) writes the committed ``benchmarks/results/`` and regenerates the README's marked
section, so a smoke or partial run never overwrites the published numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

import figures  # noqa: E402
import make_table  # noqa: E402
from centralised import CentralJob, central_jobs, central_key, central_task  # noqa: E402
from comparison import Job, Task, run_tasks, simulation_task  # noqa: E402
from scenarios import REFERENCE, Scenario, Suite, default_suite, quick_suite, shared_data_dir  # noqa: E402
from speed import speed_report  # noqa: E402
from summary import mean_curves, summarize_scenario  # noqa: E402
from sweeps import k_jobs, size_task, summarize_k, summarize_weights, weight_jobs  # noqa: E402

from fedspan.fileio import atomic_write_text, write_json  # noqa: E402

SCRATCH_DIR = Path(__file__).resolve().parent / "out"  # ignored by git: where every unpublished run writes


def definitions(suite: Suite) -> dict[str, str]:
    """The metric definitions written next to the numbers."""
    return {
        "target": f"Target accuracy per scenario = {suite.target_fraction:.0%} of the same model's centralised "
                  f"accuracy (plain SGD on all the scenario's training data, same learning rate and batch, "
                  f"{suite.central_epochs} epochs; measured by the suite in the same run).",
        "time": "Time-to-target = simulated seconds until the first model at or above the target exists (start of "
                "that round + its latency); energy-to-target = cumulative energy of all satellites up to that round; "
                "'not reached' = not within the scenario's rounds. Rounds follow a rule fixed before the run: every "
                "run stops at the first round whose model reaches the target, or at the scenario's cap (the "
                "battery day runs all its rounds), so 'last accuracy' is the accuracy where a run stopped. A policy "
                "that keeps several models (gossip: one per satellite) is scored by what the satellites hold, the "
                "mean over satellites of each one's own model's accuracy; the average of its models, which no "
                "satellite holds, is recorded beside it as 'consensus accuracy' and not used.",
        "cadence": "'b2b' scenarios run rounds back to back (the next starts when the previous ends); 'cad' "
                   "scenarios start a round every 600 s, and Fed-Span plans with the latency up to the next tick "
                   "free (`schedule = cadence`).",
        "bound": "Bound check: Spearman rank correlation over rounds between the loss decrease the convergence "
                 "bound guarantees (optimization.bound.predicted_decrease, from the measured gradient norm) and the "
                 "observed decrease of the training loss on a fixed probe sample, per Fed-Span run.",
    }


def plan_jobs(suite: Suite, data_dir: Path, only: str | None = None,
              method_labels: set[str] | None = None) -> tuple[list[Job], list[Scenario], list[dict[str, str]]]:
    """The comparison's simulations, the scenarios they run, and the scenarios skipped for missing data.

    ``only`` (a scenario-name substring) or ``method_labels`` restrict the comparison (and drop the sweeps).
    """
    jobs: list[Job] = []
    skipped = []
    running: list[Scenario] = []
    for scenario in suite.scenarios:
        if only and only not in scenario.name:
            continue
        why = scenario.unavailable(data_dir)
        if why:
            skipped.append({"scenario": scenario.name, "reason": why})
            continue
        running.append(scenario)
        for method in suite.methods_for(scenario):
            if method_labels is not None and method.label not in method_labels and not method.is_fedspan:
                continue
            jobs += [Job(scenario, method, seed, str(data_dir)) for seed in scenario.seeds_for(method)]
    return jobs, running, skipped


def targets(suite: Suite, scenarios: list[Scenario], central: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each scenario's target accuracy: ``target_fraction`` of its centralised accuracy (when that run succeeded)."""
    out = {}
    for s in scenarios:
        key = central_key(s.dataset, s.model, s.max_train, s.max_test, s.lr, s.model_width)
        if key in central:
            out[s.name] = suite.target_fraction * central[key]["accuracy"]
    return out


def stopping(jobs: list[Job], target: dict[str, float]) -> list[Job]:
    """The jobs with the rule fixed before the run: stop at the scenario's target (where it stops early), else the cap."""
    return [replace(j, overrides=(("stop_at_accuracy", target[j.scenario.name]),))
            if j.scenario.stop_at_target and j.scenario.name in target else j for j in jobs]


def sweep_jobs(suite: Suite, data_dir: Path, jobs: list[Job]) -> list[Job]:
    """The K sweep (the K the comparison did not run) and the weights sweep."""
    have = {(j.scenario.name, j.method.num_trees, j.seed) for j in jobs if j.method.is_fedspan}
    return (k_jobs(suite.k_sweep, suite.k_values, str(data_dir), have)
            + weight_jobs(suite.weights_sweep, suite.weight_grid, str(data_dir)))


def _describe(arg: Any) -> str:
    return arg.describe() if isinstance(arg, (Job, CentralJob)) else f"size: planner on {arg} satellites"


def execute(tasks: list[Task], workers: int, console: Console) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Run the tasks with a progress bar; returns outcomes and failures."""
    failures: list[dict[str, str]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("simulations and planner runs", total=len(tasks))

        def on_done(arg: Any, outcome: dict[str, Any] | None, error: str | None) -> None:
            label = _describe(arg)
            if error:
                failures.append({"job": label, "error": error})
                progress.console.print(f"[red]failed[/red] {label}: {error}")
            else:
                wall = outcome.get("wall_s", outcome.get("planner_s", math.nan))
                progress.console.print(f"done {label} ({wall:.1f} s)")
            progress.advance(bar)

        outcomes = run_tasks(tasks, workers, on_done)
    return outcomes, failures


def summarize(suite: Suite, outcomes: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Comparison summaries, sweeps and figures from the raw outcomes."""
    runs = [o for o in outcomes if o["tag"] not in ("size", "central")]
    central = {o["key"]: o for o in outcomes if o["tag"] == "central"}
    compare = [r for r in runs if r["tag"] == "compare"]
    scenarios, figs = {}, []
    for scenario in suite.scenarios:
        mine = [r for r in compare if r["scenario"] == scenario.name]
        key = central_key(scenario.dataset, scenario.model, scenario.max_train, scenario.max_test, scenario.lr,
                          scenario.model_width)
        if not mine or key not in central:
            continue
        summary = summarize_scenario(mine, suite.target_fraction * central[key]["accuracy"], REFERENCE)
        summary["centralised_accuracy"] = central[key]["accuracy"]
        fig = figures.accuracy_figure(out / f"accuracy-{scenario.name}.png", scenario.name, mean_curves(mine),
                                      summary["target_accuracy"])
        figs.append(fig.name)
        scenarios[scenario.name] = {"spec": scenario.to_dict(), "summary": summary, "figure": fig.name}
    k_summary = summarize_k(runs, suite.k_sweep.name, suite.k_values)
    weights = summarize_weights(runs)
    sizes = [o for o in outcomes if o["tag"] == "size"]
    for path in (figures.k_figure(out / "sweep-trees.png", k_summary),
                 figures.weights_figure(out / "sweep-weights.png", weights),
                 figures.size_figure(out / "sweep-size-planner.png", sizes)):
        if path is not None:
            figs.append(path.name)
    return {"scenarios": scenarios, "k_sweep": k_summary, "weights": weights, "sizes": sizes, "figures": figs,
            "central": central, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write results, figures and the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: one tiny scenario, 1 seed, 2 rounds")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="simulation processes")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for the results (default: the scratch folder {SCRATCH_DIR.name}/, ignored by git)")
    parser.add_argument("--publish", action="store_true",
                        help="write the committed benchmarks/results/ and the README's results section "
                             "(a full default-mode run only: refused with --quick, --only, --methods or --out)")
    parser.add_argument("--no-speed", action="store_true", help="skip the layer speed benchmarks")
    parser.add_argument("--only", default=None, help="only scenarios whose name contains this (no sweeps)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated method labels to run (no sweeps), e.g. 'Fed-Span K=1,distance MST'")
    parser.add_argument("--from-raw", action="store_true",
                        help="re-summarize the runs saved in <out>/runs-raw.json instead of running them")
    parser.add_argument("--readme", type=Path, default=None,
                        help="README to update between the results markers (default: the repository's, and only "
                             "with --publish)")
    args = parser.parse_args(argv)
    if args.publish:
        # Published numbers come from one complete run; a smoke or partial run would replace them with less.
        clash = [flag for flag, on in (("--quick", args.quick), ("--only", args.only is not None),
                                       ("--methods", args.methods is not None), ("--out", args.out is not None)) if on]
        if clash:
            parser.error(f"--publish writes the committed benchmarks/results/ from a full run; drop {', '.join(clash)}")
        args.out = make_table.RESULTS_DIR
    elif args.out is None:
        args.out = SCRATCH_DIR
    elif args.out.resolve() == make_table.RESULTS_DIR:
        parser.error(f"--out {args.out} is the published folder; use --publish for a full run that writes it")
    console = Console()
    suite = quick_suite() if args.quick else default_suite()
    data_dir = shared_data_dir()
    args.out.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    labels = {m.label for m in suite.methods}
    chosen = None if args.methods is None else {m.strip() for m in args.methods.split(",") if m.strip()}
    if chosen is not None and chosen - labels:
        parser.error(f"unknown method(s) {', '.join(sorted(chosen - labels))}; choose from {', '.join(sorted(labels))}")
    jobs, running, skipped = plan_jobs(suite, data_dir, args.only, chosen)
    for skip in skipped:
        console.print(f"[yellow]skipping[/yellow] {skip['scenario']}: {skip['reason']}")
    everything = args.only is None and chosen is None
    if everything:
        jobs += sweep_jobs(suite, data_dir, jobs)
    sizes = [size_task(n) for n in suite.sizes] if everything else []
    centrals = [central_task(replace(j, epochs=suite.central_epochs)) for j in central_jobs(running, data_dir)]
    console.print(f"{suite.mode} suite: {len(centrals)} centralised yardsticks, then {len(jobs) + len(sizes)} runs "
                  f"on {args.workers} worker(s); data from {data_dir}")
    raw = args.out / "runs-raw.json"
    if args.from_raw:
        saved = make_table.load_json(raw)
        outcomes, failures, skipped = saved["outcomes"], saved["failures"], saved["skipped"]
        reruns = saved.get("reruns", [])  # rows re-run after the suite and merged in (stated in the table)
        begin -= saved["wall_s"]
    else:
        # The yardsticks first: each scenario's target is fixed before its runs, which stop there.
        reruns = []
        outcomes, failures = execute(centrals, args.workers, console)
        target = targets(suite, running, {o["key"]: o for o in outcomes if o["tag"] == "central"})
        more, more_failures = execute([simulation_task(j) for j in stopping(jobs, target)] + sizes, args.workers,
                                      console)
        outcomes, failures = outcomes + more, failures + more_failures
        # Saved before summarizing, so a figure or table problem never costs the runs.
        # Not JSON-safe on purpose: --from-raw must get NaN curves back as NaN, not null.
        atomic_write_text(raw, json.dumps({"outcomes": outcomes, "failures": failures, "skipped": skipped,
                                           "wall_s": time.perf_counter() - begin}), fsync=False)
    results = summarize(suite, outcomes, args.out)
    if not args.no_speed:
        speed = speed_report(suite.speed_flags, suite.speed_timeout_s, progress=console.print)
        write_json(args.out / "speed.json", speed)
    results.update({"mode": suite.mode, "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "wall_s": time.perf_counter() - begin, "cores": os.cpu_count(), "workers": args.workers,
                    "definitions": definitions(suite), "skipped": skipped, "failures": failures, "reruns": reruns,
                    "data_dir": str(data_dir)})
    write_json(args.out / "results.json", results)
    raw.unlink(missing_ok=True)  # results.json now holds every run
    readme = args.readme or (make_table.README if args.publish else None)
    marked = readme is not None and readme.is_file() and make_table.START in readme.read_text(encoding="utf-8")
    table = make_table.build(args.out, readme if marked else None)
    console.print(f"wrote {args.out / 'results.json'}, {table}" + (f" and {readme}'s results section" if marked
                                                                   else " (README left alone)"))
    console.print(f"total {results['wall_s'] / 60:.1f} min; {len(failures)} failed run(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
