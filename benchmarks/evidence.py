"""Score the suite as a referee would: the claim against the stronger version of every baseline, Fed-Span's
learning knobs against the oracle grid, where each win comes from, and what the batteries went through.

Everything here reads the per-scenario summaries of :func:`summary.summarize_scenario` (means over seeds, counted
only when every seed reached the target) and returns plain dicts; :func:`evidence_lines` renders them.
"""

from __future__ import annotations

import math
import re
from typing import Any


from scenarios import BASELINES, BFS_DVFS, BOUND_KNOBS, MANAGED, REFERENCE, UNAWARE
from summary import ratio

TIME, ENERGY = "time_to_target_s", "energy_to_target_j"
#: Fed-Span's knobs are "within reach of the oracle" when its time and energy to target are at most this
#: multiple of the best grid point's (issue #22).
KNOB_TOLERANCE = 1.10
REFERENCE_TREES = ("distance MST", "BFS tree", "random tree")
#: A loss by less than this fraction is shown as a tie (the table prints ratios to 2 decimals, so it would read
#: 1.00). It is reported beside the goal's strict count, never in it: the goal counts only ratios <= 1.
TIE_TOLERANCE = 0.005


def complete_mean(stats: dict[str, Any], label: str, metric: str) -> float | None:
    """The mean of ``metric`` over seeds when every seed of ``label`` has it (reached the target), else None."""
    s = stats.get(label, {}).get(metric)
    if not s or s["n"] == 0 or s["n"] < s["of"]:
        return None
    return s["mean"]


def _ratio(stats: dict[str, Any], ours: str, theirs: str | None, metric: str) -> float | None:
    """``ours / theirs`` on ``metric`` when both rows exist and reached it in every seed (:func:`summary.ratio`)."""
    if theirs is None or ours not in stats or theirs not in stats:
        return None
    return ratio(stats[ours][metric], stats[theirs][metric])


def best_of(stats: dict[str, Any], labels: list[str], metric: str) -> str | None:
    """The label with the lowest complete mean of ``metric`` among ``labels`` (None when none is complete)."""
    have = [(complete_mean(stats, label, metric), label) for label in labels]
    have = [(v, label) for v, label in have if v is not None]
    return min(have)[1] if have else None


def _per_round(stats: dict[str, Any], label: str, metric: str) -> str:
    """``R rounds x X per round`` to the target, the decomposition that states a cause."""
    rounds, total = complete_mean(stats, label, "rounds_to_target"), complete_mean(stats, label, metric)
    if rounds is None or total is None:
        return f"{label}: not reached in every seed"
    unit = "s" if metric == TIME else "J"
    return f"{label}: {rounds:.3g} rounds x {total / rounds:.3g} {unit}"


def claim(summary: dict[str, Any]) -> dict[str, Any]:
    """Is Fed-Span first to the target in time, and with the least energy, among every competing method (each
    baseline as is and power-managed, so the stronger version of each counts)? Losses come with their cause:
    rounds to target times cost per round, for the leader and for Fed-Span."""
    stats = summary["methods"]
    rivals = [label for label, s in stats.items() if s.get("role", "main") == "main" and label != REFERENCE]
    row: dict[str, Any] = {"ran": len(rivals) + 1}
    for metric, key in ((TIME, "time"), (ENERGY, "energy")):
        ours = complete_mean(stats, REFERENCE, metric)
        leader = best_of(stats, rivals, metric)
        ratio = _ratio(stats, REFERENCE, leader, metric)
        won = ours is not None and (ratio is None or ratio <= 1.0 + 1e-9)
        tied = not won and ratio is not None and ratio <= 1.0 + TIE_TOLERANCE
        row[key] = {"fedspan": ours, "leader": leader, "ratio": ratio, "won": won, "tied": tied,
                    "cause": None if won or leader is None else
                    f"{_per_round(stats, leader, metric)}; {_per_round(stats, REFERENCE, metric)}"}
    row["wins"] = row["time"]["won"] and row["energy"]["won"]
    row["wins_or_ties"] = all(row[key]["won"] or row[key]["tied"] for key in ("time", "energy"))
    row["stronger"] = {label: {key: best_of(stats, [label, label + MANAGED], metric)
                               for metric, key in ((TIME, "time"), (ENERGY, "energy"))}
                       for label, _, _ in BASELINES if label in stats or label + MANAGED in stats}
    return row


def knobs(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Fed-Span's automatic steps and batch against the oracle grid of fixed knobs (None without a grid)."""
    stats = summary["methods"]
    grid = [label for label, s in stats.items() if s.get("role") == "grid"]
    if not grid:
        return None
    row: dict[str, Any] = {"points": len(grid),
                           "steps": stats.get(REFERENCE, {}).get("knobs", {}).get("mean_local_steps", {}).get("mean"),
                           "batch": stats.get(REFERENCE, {}).get("knobs", {}).get("mean_batch_size", {}).get("mean")}
    for metric, key in ((TIME, "time"), (ENERGY, "energy")):
        best = best_of(stats, grid, metric)
        row[key] = {"best": best, "fedspan": _ratio(stats, REFERENCE, best, metric),
                    "bfs_managed": _ratio(stats, "BFS tree" + MANAGED, best, metric),
                    "reached": sum(complete_mean(stats, g, metric) is not None for g in grid)}
        row[key]["bound"] = _ratio(stats, BOUND_KNOBS, best, metric)
    fs = (row["time"]["fedspan"], row["energy"]["fedspan"])
    row["within"] = all(r is not None and r <= KNOB_TOLERANCE for r in fs)
    row["fit"] = model_fit(stats, grid)
    return row


def model_fit(stats: dict[str, Any], grid: list[str]) -> dict[str, Any] | None:
    """How well the fitted progress model predicts the grid's rounds to target: ``R = s / (e^a B^b)`` with the
    run's fitted (a, b), the one scale s fitted to the grid (least squares in log space) and B the batch the grid
    point really trained (a satellite with fewer samples trains on all of them). The error of a point is
    ``max(R_obs / R_pred, R_pred / R_obs)``; None without a model or with fewer than two points at the target."""
    model = stats.get(REFERENCE, {}).get("progress_model")
    if not model:
        return None
    a, b = model["step_exponent"], model["batch_exponent"]
    logs = []
    for label in grid:
        rounds, match = complete_mean(stats, label, "rounds_to_target"), re.search(r"e=(\d+) B=(\d+)", label)
        batch = stats[label].get("knobs", {}).get("mean_batch_size", {}).get("mean") or (match and float(match[2]))
        if rounds is None or match is None or not batch:
            continue
        logs.append((math.log(rounds), -a * math.log(float(match[1])) - b * math.log(batch)))
    if len(logs) < 2:
        return None
    scale = sum(o - p for o, p in logs) / len(logs)
    errors = sorted(math.exp(abs(o - p - scale)) for o, p in logs)
    return {"points": len(logs), "median_error": errors[len(errors) // 2], "max_error": errors[-1],
            "step_exponent": a, "batch_exponent": b}


def shares(summary: dict[str, Any]) -> dict[str, Any]:
    """Where a difference comes from, as ratios of time (and energy) to target (< 1: the first is better).

    forest: Fed-Span over the best reference tree with the same power management and knob rule; clocks: the
    BFS tree with exact clocks at the default knobs over the BFS tree at full clock; knob rule: the managed BFS tree
    (time-to-accuracy knobs) over the BFS tree with exact clocks at the default knobs; batteries: Fed-Span over the
    same planner ignoring the batteries.
    """
    stats = summary["methods"]
    out: dict[str, Any] = {}
    for metric, key in ((TIME, "time"), (ENERGY, "energy")):
        ref = best_of(stats, [t + MANAGED for t in REFERENCE_TREES], metric)
        out[key] = {"forest": _ratio(stats, REFERENCE, ref, metric), "forest_reference": ref,
                    "clocks": _ratio(stats, BFS_DVFS, "BFS tree", metric),
                    "knob_rule": _ratio(stats, "BFS tree" + MANAGED, BFS_DVFS, metric),
                    "batteries": _ratio(stats, REFERENCE, UNAWARE, metric)}
    return out


def batteries(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per method: satellite-rounds ending below the depth-of-discharge floor, sat-outs, the lowest charge."""
    rows = []
    for label, s in summary["methods"].items():
        if s.get("battery_violations", {}).get("n") or s.get("min_state_of_charge", {}).get("n"):
            rows.append({"method": label, "violations": s["battery_violations"]["mean"],
                         "sat_out": s["sat_out"]["mean"], "min_soc": s["min_state_of_charge"]["min"]})
    return rows


def score(results: dict[str, Any]) -> dict[str, Any]:
    """Every scenario's claim, knobs, shares and batteries, plus the issue's goals as counts."""
    per = {}
    for name, block in results["scenarios"].items():
        summary = block["summary"]
        if REFERENCE not in summary["methods"]:
            continue
        per[name] = {"claim": claim(summary), "knobs": knobs(summary), "shares": shares(summary),
                     "batteries": batteries(summary) if block["spec"].get("battery") else []}
    graded = [p["knobs"] for p in per.values() if p["knobs"]]
    return {"scenarios": per, "wins": sum(p["claim"]["wins"] for p in per.values()), "total": len(per),
            "wins_or_ties": sum(p["claim"]["wins_or_ties"] for p in per.values()),
            "knobs_within": sum(k["within"] for k in graded), "knobs_total": len(graded)}


def _r(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _versus(side: dict[str, Any]) -> str:
    """``ratio (leader)``, or why there is no ratio."""
    if side["leader"] is None:
        return "no rival reached the target" if side["fedspan"] is not None else "nobody reached the target"
    if side["fedspan"] is None:
        return f"Fed-Span not in every seed; {side['leader']} did"
    return f"{_r(side['ratio'])} ({side['leader']})"


def _mark(side: dict[str, Any]) -> str:
    """✓ first, ≈ behind by less than :data:`TIE_TOLERANCE`, ✗ behind."""
    return "✓" if side["won"] else "≈" if side["tied"] else "✗"


def _short(label: str | None) -> str:
    return "—" if label is None else label.replace("grid: ", "")


def evidence_lines(results: dict[str, Any]) -> list[str]:
    """Markdown: the claim against the stronger baselines, the knobs against the grid, the shares, the batteries."""
    scored = score(results)
    per = scored["scenarios"]
    if not per:
        return []
    total = scored["total"]
    out = ["**The claim against the stronger baselines.** Every baseline runs twice: as is (full clock and power, 5 "
           "steps of batch 32) and power-managed (forests and FedISL's chains: exact clocks, powers and the same "
           "time-to-accuracy knob rule as Fed-Span on their own topology; ring, gossip and star: the slowest clock "
           "that does not lengthen the round). Fed-Span K=1 is scored against the best of all of them. Ratio = "
           "Fed-Span ÷ the leader (> 1: the leader is better by that factor); a loss names its cause as rounds to "
           "target x cost per round.", "",
           "| scenario | first in time | Fed-Span ÷ fastest | least energy | Fed-Span ÷ cheapest | cause of a loss |",
           "|---|---|---|---|---|---|"]
    for name, p in per.items():
        c = p["claim"]
        causes = "; ".join(f"{k}: {c[k]['cause']}" for k in ("time", "energy") if c[k]["cause"]) or "—"
        out.append(f"| {name} | {_mark(c['time'])} | {_versus(c['time'])} "
                   f"| {_mark(c['energy'])} | {_versus(c['energy'])} | {causes} |")
    out += ["", f"- Fed-Span first to the target **and** with the least energy in **{scored['wins']} of {total}** "
                f"scenarios ({100.0 * scored['wins'] / total:.0f} %; goal >= 70 %). ≈: behind by less than "
                f"{100 * TIE_TOLERANCE:.1f} % (a tie at the table's precision, scored as a loss); counting those as "
                f"shared first place: {scored['wins_or_ties']} of {total}.", ""]
    graded = {n: p["knobs"] for n, p in per.items() if p["knobs"]}
    if graded:
        out += ["**Fed-Span's knobs against the oracle grid.** Fixed (local steps e x batch B) on the BFS tree with "
                "exact clocks and powers, run to the target; Fed-Span's time and energy to target ÷ the best grid "
                f"point's (goal: both <= {KNOB_TOLERANCE:.2f}). 'BFS managed' is the same knob rule on the BFS tree "
                "itself: the knob rule alone, with the topology held fixed; 'bound knobs' is Fed-Span choosing its knobs by the "
                "convergence bound (the rule before). The last column is the time-to-accuracy model the run fitted "
                "(exponents of steps and batch) and how far its predicted rounds to target are from the grid's "
                "(one scale fitted; error = the larger of predicted/observed and its inverse).", "",
                "| scenario | Fed-Span e, B (means) | best grid point (time) | Fed-Span ÷ it | BFS managed ÷ it "
                "| bound knobs ÷ it | best grid point (energy) | Fed-Span ÷ it | BFS managed ÷ it | bound knobs ÷ it "
                "| within | model a, b; fit error median (max) |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, k in graded.items():
            knob = "—" if k["steps"] is None else f"{k['steps']:.1f}, {k['batch']:.0f}"
            fit = k["fit"]
            fit_text = "—" if fit is None else (f"{fit['step_exponent']:.2f}, {fit['batch_exponent']:.2f}; "
                                                f"{fit['median_error']:.2f}x ({fit['max_error']:.2f}x) over "
                                                f"{fit['points']} points")
            t, e = k["time"], k["energy"]
            out.append(f"| {name} | {knob} | {_short(t['best'])} | {_r(t['fedspan'])} | {_r(t['bfs_managed'])} | "
                       f"{_r(t['bound'])} | {_short(e['best'])} | {_r(e['fedspan'])} | {_r(e['bfs_managed'])} | "
                       f"{_r(e['bound'])} | {'✓' if k['within'] else '✗'} | {fit_text} |")
        out += ["", f"- Within {KNOB_TOLERANCE:.2f}x of the best grid point in time and energy: **"
                    f"{scored['knobs_within']} of {scored['knobs_total']}** scenarios (goal >= 80 %).", ""]
    out += ["**Where the wins come from.** Ratios of time to target (energy in brackets); < 1: the first named is "
            "better. Forest: Fed-Span ÷ the best reference tree with the same power management and knob rule. "
            "Clocks: BFS with exact clocks ÷ BFS at full clock (same knobs). Knob rule: managed BFS ÷ BFS with exact "
            "clocks at the default knobs. Batteries: Fed-Span ÷ the same planner ignoring the batteries.", "",
            "| scenario | forest (reference) | clocks | knob rule | batteries |", "|---|---|---|---|---|"]
    for name, p in per.items():
        t, e = p["shares"]["time"], p["shares"]["energy"]
        ref = (t["forest_reference"] or "—").replace(MANAGED, "")
        if e["forest_reference"] not in (None, t["forest_reference"]):  # the cheapest tree is another one
            ref += f" (energy: {e['forest_reference'].replace(MANAGED, '')})"
        out.append(f"| {name} | {_r(t['forest'])} ({_r(e['forest'])}) vs {ref} | {_r(t['clocks'])} "
                   f"({_r(e['clocks'])}) | {_r(t['knob_rule'])} ({_r(e['knob_rule'])}) | {_r(t['batteries'])} "
                   f"({_r(e['batteries'])}) |")
    out.append("")
    for name, p in per.items():
        if p["batteries"]:
            out += [f"**Batteries in {name}** (means over seeds; a violation is a satellite ending a round below its "
                    "depth-of-discharge floor):", "", "| method | violations | satellites sat out | lowest charge |",
                    "|---|---|---|---|"]
            out += [f"| {b['method']} | {_r(b['violations'])} | {_r(b['sat_out'])} | {_r(b['min_soc'])} |"
                    for b in p["batteries"]]
            out.append("")
    return out
