"""Where a round's time and energy go on each hardware profile, and how much the tree matters there.

For every profile (``fedspan.hardware.PROFILES``), model and schedule, one round-0 problem of the profile's
constellation is built by the same code the CLI runs (``fedspan.simulation.build_scenario``). Every reference
tree of the planner benchmark (link-time SPT, BFS, distance MST) and the planner's own forest are valued with
the exact resources, and the round of the planner's forest is broken down by kind with the one cost model
(``optimization.costs.round_costs``):

* energy: dynamic compute, static compute, links (transmit power + terminal electronics), acquisition;
* time: the slowest satellite's compute, the longest acquisition (both start at the round's start, side by
  side) and the rest of the critical path (model transfers and propagation).

Two link states are priced: round 0, where every link is new (acquisition on all of them), and the steady
state, where the tree's links were up in the previous round (no acquisition). The "topology" columns divide
the worst reference tree's objective by the best forest's: where it exceeds 1.05 the tree moves the objective by
more than 5 %, and the table says so.

    python benchmarks/bench_regimes.py            # every profile, both schedules (writes benchmarks/out/)
    python benchmarks/bench_regimes.py --publish  # the same, into benchmarks/results/ (the README's copy)
    python benchmarks/bench_regimes.py --profiles paper,smallsat-edge --models mlp --schedules back-to-back
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_planner import reference_forests, score_references  # noqa: E402
from outfolder import add_output_options, output_folder  # noqa: E402
from fedspan.config import SimulationConfig  # noqa: E402
from fedspan.simulation import build_scenario  # noqa: E402
from optimization import SolveOptions, solve  # noqa: E402
from optimization.costs import round_costs  # noqa: E402
from optimization.forests import components  # noqa: E402
from optimization.jsonsafe import json_safe  # noqa: E402
from optimization.resources import optimal_resources  # noqa: E402

#: The constellation each profile is priced on: the cubesat's 1000 km S-band radios need the dense shell 1.
CONSTELLATION = {"cubesat": "starlink-shell1", "iridium-rf": "iridium"}
DEFAULT_CONSTELLATION = "small"
#: Models: the small MLP (a 1.6e5-bit payload) and cnn-large (a 3.5e7-bit payload, ~70 MFLOP per sample).
MODELS = ("mlp", "cnn-large")
DATASET = {"mlp": "digits", "cnn-large": "digits"}


def round_problem(profile: str, model: str, schedule: str, links_kept: bool):
    """The round-0 SpanningProblem of a profile (every link new, or every link kept) and its scenario."""
    config = SimulationConfig(constellation=CONSTELLATION.get(profile, DEFAULT_CONSTELLATION), hardware=profile,
                              model=model, dataset=DATASET[model], schedule=schedule)
    scenario, _ = build_scenario(config)
    snapshot = scenario.snapshot(0.0, 60.0)
    n = scenario.num_satellites
    links_up = snapshot.edges if links_kept else None
    problem, _ = scenario.problem(snapshot, np.ones(n, bool), np.full(n, 1000.0), 1,
                                  deadline_s=600.0 if schedule == "cadence" else None, links_up=links_up)
    pieces = int(components(problem).max()) + 1  # a link range that splits the shell: one tree per piece
    return replace(problem, num_trees=pieces) if pieces > 1 else problem


def breakdown(problem, parent) -> dict[str, float]:
    """Energy by kind (J) and time by part (s) of the exact-resource round on ``parent``."""
    res, costs = optimal_resources(problem, parent)
    rc = round_costs(problem, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size)
    compute_s = float(rc.compute_time_s.max())
    kids = np.flatnonzero(np.asarray(parent) >= 0)
    acq = problem.acquisition_s
    from optimization.forests import edge_lookup

    acquire_s = float(acq[edge_lookup(problem, kids, np.asarray(parent)[kids])].max()) if len(kids) else 0.0
    energy = {"dynamic": float(rc.dynamic_energy_j.sum()), "static": float(rc.static_energy_j.sum()),
              "links": float(rc.link_energy_j.sum()), "acquisition": float(rc.acquisition_energy_j.sum())}
    total = sum(energy.values())
    return {"latency_s": rc.latency_s, "energy_j": total, "objective": costs.objective,
            "compute_s": compute_s, "acquisition_s": acquire_s,
            "transfer_s": max(rc.latency_s - max(compute_s, acquire_s), 0.0),
            **{f"{k}_share": v / total if total > 0 else 0.0 for k, v in energy.items()},
            "mean_steps": float(res.local_steps.mean()), "mean_batch": float(res.batch_size.mean()),
            "mean_clock_ghz": float(res.cpu_hz.mean() / 1e9)}


def cell(profile: str, model: str, schedule: str, links_kept: bool, search_s: float) -> dict:
    """One row: the planner's forest broken down, and the topology's effect (worst reference / best forest)."""
    t0 = time.perf_counter()
    problem = round_problem(profile, model, schedule, links_kept)
    refs = [r for r in score_references(problem, reference_forests(problem, problem.num_trees, library=False))
            if np.isfinite(r.objective)]
    plan = solve(problem, SolveOptions(search_time_s=search_s))
    row = {"profile": profile, "model": model, "schedule": schedule, "links": "kept" if links_kept else "new",
           "satellites": problem.num_nodes, "trees": problem.num_trees, "model_mbit": problem.model_bits / 1e6,
           **breakdown(problem, plan.parent)}
    best = min([plan.objective] + [r.objective for r in refs])
    worst = max(r.objective for r in refs) if refs else plan.objective
    row.update(planner_objective=plan.objective, best_reference=refs[0].name if refs else None,
               best_reference_objective=refs[0].objective if refs else None, topology_spread=worst / best,
               planner_vs_best_reference=plan.objective / refs[0].objective if refs else None,
               seconds=time.perf_counter() - t0)
    return row


def markdown(rows: list[dict]) -> str:
    """The regime table: energy and time shares, then the tree's effect."""
    head = ("| profile | model | schedule | links | N | latency s | energy J | dyn | static | links | acq | "
            "compute s | acq s | transfer s | worst ref / best | planner / best ref |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        pvb = r["planner_vs_best_reference"]
        lines.append(
            f"| {r['profile']} | {r['model']} | {r['schedule']} | {r['links']} | {r['satellites']} | "
            f"{r['latency_s']:.3g} | {r['energy_j']:.3g} | {100 * r['dynamic_share']:.0f} % | "
            f"{100 * r['static_share']:.0f} % | {100 * r['links_share']:.0f} % | {100 * r['acquisition_share']:.0f} % | "
            f"{r['compute_s']:.3g} | {r['acquisition_s']:.3g} | {r['transfer_s']:.3g} | "
            f"{r['topology_spread']:.3f}{' (> 5 %: topology matters)' if r['topology_spread'] > 1.05 else ''} | "
            f"{'n/a' if pvb is None else f'{pvb:.4f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from fedspan.hardware import PROFILES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma list of hardware profiles")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--schedules", default="back-to-back,cadence")
    parser.add_argument("--search-s", type=float, default=2.0, help="planner local-search seconds per problem")
    add_output_options(parser, "regimes.{json,md}")
    args = parser.parse_args(argv)
    args.out = output_folder(parser, args)
    rows = []
    for profile in args.profiles.split(","):
        for model in args.models.split(","):
            for schedule in args.schedules.split(","):
                for kept in (False, True):
                    row = cell(profile, model, schedule, kept, args.search_s)
                    rows.append(row)
                    print(markdown([row]).splitlines()[-1], flush=True)
    table = markdown(rows)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "regimes.json").write_text(json.dumps(json_safe(rows), indent=1))
    (args.out / "regimes.md").write_text(table + "\n")
    print(f"results: {args.out / 'regimes.json'}, {args.out / 'regimes.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
