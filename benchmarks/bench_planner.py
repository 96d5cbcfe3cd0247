"""Planner scale benchmark: Walker shells (66, 264, 1584) and the real Starlink snapshot (5236 satellites).

Prints, per size, in one run: wall time, SCA subproblem solves, objective of the plan against the
distance-MST warm start and against a BFS tree (both with default resources), and on sizes where it
finishes the time ratio of the gp=True reference subproblem to the log-space fast path.
Usage: python benchmarks/bench_planner.py [--quick] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimization import SolveOptions, SpanningProblem, bfs_forest, distance_forest, evaluate, solve  # noqa: E402
from optimization.defaults import default_resources  # noqa: E402
from optimization.formulation import build_program, initial_point  # noqa: E402
from optimization.gp_reference import GPReferenceSubproblem  # noqa: E402
from optimization.logspace import LogSpaceSubproblem  # noqa: E402
from optimization.planner import topology_arcs  # noqa: E402
from optimization.solvers import default_chain  # noqa: E402
from orbits import Constellation, WalkerSpec, snapshots, walker_delta  # noqa: E402

SHARED = Path(os.environ.get("FEDSPAN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def problem_from(constellation: Constellation) -> SpanningProblem:
    """knn-8 candidate graph at the epoch; satellites without a candidate link are left out."""
    snap = next(snapshots(constellation, offsets_s=[0.0], policy="knn", k=8))
    keep = np.flatnonzero(snap.degrees() > 0)
    local = np.full(snap.num_nodes, -1)
    local[keep] = np.arange(len(keep))
    return SpanningProblem(
        num_nodes=len(keep), edges=local[snap.edges], distance_km=snap.distance_km,
        rate_per_watt=snap.rate_per_watt, delay_s=snap.delay_s, num_trees="auto",
    )


def scenarios(quick: bool):
    """(label, constellation factory) in increasing size."""
    yield "walker 66", lambda: Constellation.from_preset("small")
    yield "walker 264", lambda: Constellation.from_tles(walker_delta(WalkerSpec(53.0, 264, 12, 1, 550.0)))
    if quick:
        return
    yield "walker 1584", lambda: Constellation.from_preset("starlink-shell1")
    tle = SHARED / "starlink-2024-05.tle"
    if tle.is_file():
        yield "starlink 5236 (real)", lambda: Constellation.from_file(tle, strict=False)
    else:
        print(f"(skipping the real Starlink snapshot: {tle} not present)")


def baseline(problem: SpanningProblem, parent: np.ndarray) -> float:
    """Objective of a forest with default resources."""
    r = default_resources(problem, parent)
    return evaluate(problem, parent, r.cpu_hz, r.tx_power_w, r.local_steps, r.batch_size).objective


def reference_ratio(problem: SpanningProblem, limit_nodes: int = 100) -> str:
    """Seconds of one gp=True reference subproblem (build + solve) over the log-space path (build + solve)."""
    if problem.num_nodes > limit_nodes:
        return "reference not run (too slow)"
    parent = distance_forest(problem)
    res = default_resources(problem, parent)
    arcs = topology_arcs(problem, parent, res, SolveOptions())  # the arcs the planner's subproblem uses
    program = build_program(problem, arcs, int((parent < 0).sum()), fixed=False)
    z0 = initial_point(program, parent, res)
    times = []
    for cls in (LogSpaceSubproblem, GPReferenceSubproblem):
        start = time.perf_counter()
        sub = cls(program, default_chain())
        sub.solve(z0, 0.5)
        first = time.perf_counter() - start
        start = time.perf_counter()
        sub.solve(z0, 0.5)
        times.append((first, time.perf_counter() - start))
    (f1, f2), (g1, g2) = times
    return f"gp/fast first solve {g1:.2f}s/{f1:.2f}s = {g1 / f1:.1f}x, re-solve {g2:.2f}s/{f2:.2f}s = {g2 / f2:.1f}x"


def sweep_seconds(history: list[dict], workers: int) -> tuple[list[float], list[int]]:
    """Per SCA iteration index: the clusters' subproblem seconds summed and shared over the workers, and how many."""
    total: dict[int, list[float]] = {}
    for h in history:
        total.setdefault(h["iteration"], []).append(h["seconds"])
    keys = sorted(total)
    return [sum(total[i]) / workers for i in keys], [len(total[i]) for i in keys]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the 66- and 264-satellite shells")
    parser.add_argument("--workers", type=int, default=None, help="processes for cluster solves (default: cores)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    options = SolveOptions(workers=args.workers)
    print(f"cores: {os.cpu_count()}, solvers: {', '.join(default_chain())}")
    for label, make in scenarios(args.quick):
        problem = problem_from(make())
        start = time.perf_counter()
        plan = solve(problem, options)
        wall = time.perf_counter() - start
        solves = sum(1 for h in plan.history if h.get("solver"))
        sca = [h for h in plan.history if h.get("solver") and "phase" not in h]
        per_iter = np.mean([h["seconds"] for h in sca]) if sca else float("nan")
        bfs = baseline(problem, bfs_forest(problem, plan.num_trees))
        clusters = sum(1 for h in plan.history if h.get("iteration") == 0 and "cluster_size" in h)
        print(f"\n{label}: N={problem.num_nodes} E={problem.num_edges} K={plan.num_trees}")
        print(f"  wall {wall:.1f}s (sca {plan.timings.get('sca_s', 0):.1f}s, polish {plan.timings.get('polish_s', 0):.1f}s), "
              f"{solves} subproblem solves, {per_iter:.2f}s per topology SCA solve, status {plan.status}, "
              f"fallback {plan.fallback}")
        if clusters:  # a sweep = every cluster's subproblem solved once (the clusters run in parallel)
            iters = len(sca) / clusters
            workers = min(options.workers or os.cpu_count() or 1, clusters)
            sweeps, counts = sweep_seconds(sca, workers)
            listed = ", ".join(f"{t:.2f}s ({c})" for t, c in zip(sweeps, counts))
            print(f"  {clusters} clusters, {iters:.1f} SCA iterations per cluster; end to end incl. warm starts and "
                  f"rounding {plan.timings.get('sca_s', 0) / iters:.2f}s per iteration")
            print(f"  SCA iteration 1, 2, ... over the whole constellation (subproblem seconds summed over the "
                  f"clusters still iterating, / {workers} workers; the first compiles each cluster's problem): {listed}")
        print(f"  objective {plan.objective:.4f} vs distance-MST warm start {plan.warm_start_objective:.4f} "
              f"(ratio {plan.objective / plan.warm_start_objective:.3f}) vs BFS tree {bfs:.4f} "
              f"(ratio {plan.objective / bfs:.3f}); chosen: {plan.source}")
        print(f"  latency {plan.latency_s:.3f}s energy {plan.energy_j:.3f}J bound {plan.bound:.4f}")
        print(f"  {reference_ratio(problem)}")


if __name__ == "__main__":
    main()
