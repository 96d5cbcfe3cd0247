"""Turn per-run curves into the comparison's numbers: targets, per-metric mean/spread, ratios, winners.

Definitions (also written into the results JSON so the table can state them):
- target accuracy of a scenario = 90 % of the same model's centralised accuracy (benchmarks/centralised.py);
- time-to-target = simulated clock when the first model at or above the target exists
  (start of that round + its latency); energy-to-target = cumulative energy at that round;
- a run that never reaches the target has no time/energy-to-target ("not reached").
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Sequence

#: metric -> True when lower is better.
METRICS: dict[str, bool] = {"time_to_target_s": True, "energy_to_target_j": True, "rounds_to_target": True,
                            "mean_latency_s": True, "final_accuracy": False, "energy_per_round_j": True}
#: Per-run battery counts (settings with batteries): summed over rounds, or the lowest state of charge.
BATTERY = ("battery_violations", "sat_out", "min_state_of_charge")


def first_reached(accuracy: Sequence[float], target: float) -> int | None:
    """Index of the first round whose accuracy reaches ``target``, or None."""
    for index, value in enumerate(accuracy):
        if value is not None and value >= target:
            return index
    return None


def run_outcome(curve: dict[str, list[float]], target: float) -> dict[str, float | None]:
    """The per-run metrics of one curve against a target accuracy."""
    hit = first_reached(curve["test_accuracy"], target)
    rounds = len(curve["test_accuracy"])
    return {
        "time_to_target_s": None if hit is None else curve["time_s"][hit] + curve["latency_s"][hit],
        "energy_to_target_j": None if hit is None else curve["cumulative_energy_j"][hit],
        "rounds_to_target": None if hit is None else hit + 1,
        "battery_violations": _total(curve.get("battery_violations")),
        "sat_out": _total(curve.get("sat_out")),
        "min_state_of_charge": min((v for v in curve.get("min_state_of_charge") or [] if _finite(v)), default=None),
        "mean_latency_s": sum(curve["latency_s"]) / rounds,
        "final_accuracy": curve["test_accuracy"][-1],
        "energy_per_round_j": curve["cumulative_energy_j"][-1] / rounds,
        "mean_participating": sum(curve["participating"]) / rounds,
    }


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


def _total(values: list[float | None] | None) -> float | None:
    """Sum of the finite values, None when the column is absent (runs from before it existed)."""
    have = [v for v in values or [] if _finite(v)]
    return float(sum(have)) if values else None


def spread(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """Mean, sample std, min and max over the values that exist; ``n`` of them and ``of`` in all."""
    values = list(values)
    have = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not have:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0, "of": len(values)}
    mean = sum(have) / len(have)
    std = math.sqrt(sum((v - mean) ** 2 for v in have) / (len(have) - 1)) if len(have) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(have), "max": max(have), "n": len(have), "of": len(values)}


def ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> float | None:
    """Fed-Span's mean over the baseline's mean, when both reached in every seed."""
    complete = ours["n"] == ours["of"] and theirs["n"] == theirs["of"] and ours["n"] > 0 and theirs["n"] > 0
    if not complete or not theirs["mean"]:
        return None
    return ours["mean"] / theirs["mean"]


def best_methods(stats: dict[str, dict[str, dict[str, Any]]], metric: str, rel_tol: float = 1e-9) -> list[str]:
    """The methods tied for the best mean on ``metric`` among those complete over all seeds."""
    pool = {label: s[metric]["mean"] for label, s in stats.items()
            if s[metric]["n"] == s[metric]["of"] and s[metric]["n"] > 0}
    if not pool:
        return []
    best = (min if METRICS[metric] else max)(pool.values())
    return [label for label, value in pool.items() if abs(value - best) <= rel_tol * max(abs(best), 1e-12)]


def bound_correlation(curve: dict[str, list[float]]) -> float | None:
    """Spearman rank correlation over rounds of the bound's predicted and the observed probe-loss decrease."""
    from scipy.stats import spearmanr

    pairs = [(p, o) for p, o in zip(curve.get("predicted_decrease", []), curve.get("observed_decrease", []))
             if p is not None and o is not None and math.isfinite(p) and math.isfinite(o)]
    if len(pairs) < 3 or len({p for p, _ in pairs}) < 2 or len({o for _, o in pairs}) < 2:
        return None
    value = spearmanr([p for p, _ in pairs], [o for _, o in pairs]).statistic
    return float(value) if math.isfinite(value) else None


def summarize_scenario(runs: list[dict[str, Any]], target: float, reference: str) -> dict[str, Any]:
    """Per-method statistics against the target accuracy, Fed-Span-over-method ratios, the winners, the claim.

    ``claim``: whether the reference reaches the target first in simulated time and with the least energy
    (among the non-ablation methods), and how far its final accuracy is below the best method's.
    """
    by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_method[run["method"]].append(run)
    stats: dict[str, dict[str, Any]] = {}
    for label, rs in by_method.items():
        outcomes = [run_outcome(r["curve"], target) for r in rs]
        stats[label] = {key: spread(o[key] for o in outcomes) for key in (*METRICS, *BATTERY, "mean_participating")}
        stats[label]["role"] = rs[0].get("role", "ablation" if rs[0].get("ablation") else "main")
        stats[label]["progress_model"] = next((r["progress_model"] for r in rs if r.get("progress_model")), None)
        stats[label]["seeds"] = sorted(r["seed"] for r in rs)
        stats[label]["rounds"] = max(len(r["curve"]["test_accuracy"]) for r in rs)
        stats[label]["wall_s"] = sum(r["wall_s"] for r in rs)
        stats[label]["fallback_rounds"] = sum(r.get("fallback_rounds", 0) for r in rs)
        stats[label]["ablation"] = any(r.get("ablation") for r in rs)
        stats[label]["knobs"] = {k: spread(finite_mean(r["curve"].get(k)) for r in rs)
                                 for k in ("mean_local_steps", "mean_batch_size")}
        stats[label]["bound_spearman"] = spread(bound_correlation(r["curve"]) for r in rs)
    ratios = {}
    if reference in stats:
        ratios = {label: {m: ratio(stats[reference][m], s[m]) for m in METRICS}
                  for label, s in stats.items() if label != reference}
    main = {label: s for label, s in stats.items() if not s["ablation"]}
    best = {m: best_methods(main, m) for m in METRICS}
    claim = None
    if reference in stats:
        accuracy = [s["final_accuracy"]["mean"] for s in main.values() if s["final_accuracy"]["mean"] is not None]
        claim = {"first_in_time": reference in best["time_to_target_s"],
                 "least_energy": reference in best["energy_to_target_j"],
                 "accuracy_gap_points": 100.0 * (max(accuracy) - stats[reference]["final_accuracy"]["mean"])}
        claim["wins"] = claim["first_in_time"] and claim["least_energy"]
    return {"target_accuracy": target, "reference": reference, "methods": stats, "ratios": ratios, "best": best,
            "claim": claim}


def finite_mean(values: list[float | None] | None) -> float | None:
    """Mean of the finite values (None and NaN rounds skipped), None when there are none."""
    have = [v for v in values or [] if v is not None and math.isfinite(v)]
    return sum(have) / len(have) if have else None


def mean_curves(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Seed-averaged curves per method (columns for ``fedspan.plots.plot_accuracy_curves``)."""
    by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_method[run["method"]].append(run["curve"])
    out = {}
    for label, curves in by_method.items():
        rounds = min(len(c["test_accuracy"]) for c in curves)

        def avg(key: str, cs: list[dict[str, list[float]]] = curves, n: int = rounds) -> list[float]:
            return [sum(c[key][i] for c in cs) / len(cs) for i in range(n)]

        done = [t + lat for t, lat in zip(avg("time_s"), avg("latency_s"))]
        out[label] = {"sim_time_s": done, "cumulative_energy_j": avg("cumulative_energy_j"),
                      "test_accuracy": avg("test_accuracy")}
    return out
