"""Sweeps: number of trees K, objective weights, and planner time against constellation size.

K and weight sweeps are Fed-Span simulations (``comparison.Job``); the size sweep times one real
``optimization.solve`` on the round-0 problem of a Walker-delta shell built through
``fedspan.scenario.Scenario``, next to the distance-MST warm start it must never be worse than.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

from comparison import Job, Task
from scenarios import Method, Scenario
from summary import run_outcome, spread

#: Walker-delta 53 deg, 550 km shells by total size: (total, planes).
WALKER_SHELLS: dict[int, tuple[int, int]] = {66: (66, 6), 132: (132, 12), 264: (264, 12), 528: (528, 24),
                                             1056: (1056, 48), 1584: (1584, 72)}


def k_jobs(scenario: Scenario, k_values: tuple[int, ...], data_dir: str, have: set[tuple[str, int, int]]) -> list[Job]:
    """Fed-Span runs for each K not already run by the comparison (``have``: scenario, K, seed)."""
    return [Job(scenario, Method(f"Fed-Span K={k}", "fedspan", k), seed, data_dir, tag="k-sweep")
            for k in k_values for seed in scenario.seeds if (scenario.name, k, seed) not in have]


def weight_jobs(scenario: Scenario, grid: tuple[tuple[float, float, float], ...], data_dir: str) -> list[Job]:
    """Fed-Span K=1 runs, one per weight vector (loss, energy, latency) and seed."""
    return [Job(scenario, Method("Fed-Span K=1", "fedspan", 1), seed, data_dir, weights=w, tag="weights")
            for w in grid for seed in scenario.seeds]


def summarize_k(runs: list[dict[str, Any]], scenario: str, k_values: tuple[int, ...]) -> dict[str, Any]:
    """Per K: final accuracy, energy per round and mean latency (mean and std over seeds)."""
    by_k: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if run["scenario"] == scenario and run["strategy"] == "fedspan" and run["tag"] in ("compare", "k-sweep"):
            by_k[run["num_trees"]].append(run)
    rows = []
    for k in k_values:
        outcomes = [run_outcome(r["curve"], 0.0) for r in by_k.get(k, [])]
        if outcomes:
            rows.append({"k": k, **{m: spread(o[m] for o in outcomes)
                                    for m in ("final_accuracy", "energy_per_round_j", "mean_latency_s")}})
    return {"scenario": scenario, "rows": rows}


def summarize_weights(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per weight vector: final accuracy, energy per round and mean latency."""
    by_w: dict[tuple[float, ...], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if run["tag"] == "weights":
            by_w[tuple(run["weights"])].append(run)
    rows = []
    for w, rs in by_w.items():
        outcomes = [run_outcome(r["curve"], 0.0) for r in rs]
        rows.append({"weights": list(w), **{m: spread(o[m] for o in outcomes)
                                            for m in ("final_accuracy", "energy_per_round_j", "mean_latency_s")}})
    return {"rows": rows}


def planner_size_job(total: int) -> dict[str, Any]:
    """Time one Fed-Span plan (``optimization.solve``, default options) of a Walker shell of ``total`` satellites."""
    import numpy as np

    from fedspan.models import make_model, model_bits
    from fedspan.scenario import Scenario as FlScenario, ScenarioConfig
    from optimization.planner import solve
    from orbits.tle import write_tle
    from orbits.walker import WalkerSpec, walker_delta

    count, planes = WALKER_SHELLS[total]
    bits = model_bits(make_model("mlp", (64,), 10, seed=0))  # the digits MLP of the comparison
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"walker-{count}.tle"
        write_tle(path, walker_delta(WalkerSpec(53.0, count, planes, 1, 550.0)))
        scenario = FlScenario(ScenarioConfig(constellation=str(path)), model_bits=bits)
        begin = time.perf_counter()
        snapshot = scenario.snapshot(0.0, 10.0)
        n = scenario.num_satellites
        problem, _ = scenario.problem(snapshot, np.ones(n, bool), np.full(n, 1797.0 / 66), 1)
        build_s = time.perf_counter() - begin
        begin = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = solve(problem)
        solve_s = time.perf_counter() - begin
    return {"tag": "size", "satellites": n, "candidate_edges": int(problem.num_edges), "build_s": build_s,
            "planner_s": solve_s, "timings": {k: float(v) for k, v in plan.timings.items()},
            "objective": plan.objective, "warm_start_objective": plan.warm_start_objective,
            "objective_vs_warm_start": plan.objective / plan.warm_start_objective, "status": plan.status,
            "latency_s": plan.latency_s, "energy_j": plan.energy_j}


def size_task(total: int) -> Task:
    """A pool task for one planner-size measurement.

    The cost hint is rough seconds like ``Job.cost_hint``: measured 0.5 s of planning for 66 satellites,
    0.9 s for 264 and 3.4 s for 1584 (2 shared cores), plus building the scenario.
    """
    return (planner_size_job, total, 1.0 + total / 400)
