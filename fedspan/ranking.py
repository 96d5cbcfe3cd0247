"""Rank the methods of a comparison by time to a target accuracy, then energy, and say why the leader leads.

`fedspan compare` prints this ranking and writes it to ``summary.csv``. The target is relative, because a
comparison has no centralised run to measure one against: :data:`TARGET_FRACTION` of the best final accuracy
among the compared methods, so at least one method always reaches it. Time to target is the simulated time at
which the first model at or above the target exists (the start of that round plus its latency); energy to
target is the constellation's cumulative energy up to that round, the metrics of the benchmark suite
(``benchmarks/summary.py``) and of the time-to-accuracy comparisons in the FL literature (e.g. Lai et al.,
"Oort: Efficient Federated Learning via Guided Participant Selection", OSDI 2021).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

#: The target accuracy of a comparison, as a fraction of the best final accuracy among its methods.
TARGET_FRACTION = 0.9


def _mean(values: Sequence[float]) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(finite) / len(finite) if finite else math.nan


def target_accuracy(results: Mapping[str, Sequence[Any]], fraction: float = TARGET_FRACTION) -> float:
    """``fraction`` of the best final test accuracy (a fraction in [0, 1]) over methods with at least one round.

    >>> from types import SimpleNamespace as R
    >>> round(target_accuracy({"a": [R(test_accuracy=0.5)], "b": [R(test_accuracy=0.8)]}), 3)
    0.72
    """
    finals = [rows[-1].test_accuracy for rows in results.values() if rows]
    return fraction * max(finals) if finals else math.nan


def method_summary(name: str, rows: Sequence[Any], target: float) -> dict[str, Any]:
    """One method's totals, its time (s) and energy (J) to ``target`` (NaN when not reached) and the knobs it
    used: mean local steps, batch, CPU clock (GHz) and laser transmit power (W) over its rounds.

    ``rows`` are :class:`fedspan.metrics.RoundMetrics` of consecutive rounds (at least one).
    """
    reached = next((i for i, m in enumerate(rows) if m.test_accuracy >= target), None)
    hit = rows[reached] if reached is not None else None
    last = rows[-1]
    return {"method": name, "rounds": len(rows), "final_accuracy": last.test_accuracy,
            "rounds_to_target": None if hit is None else reached + 1,
            "time_to_target_s": math.nan if hit is None else hit.time_s + hit.latency_s,
            "energy_to_target_j": math.nan if hit is None else hit.cumulative_energy_j,
            "simulated_time_s": last.time_s + last.latency_s,
            "mean_latency_s": sum(m.latency_s for m in rows) / len(rows),
            "total_energy_j": last.cumulative_energy_j, "fallbacks": sum(bool(m.fallback) for m in rows),
            "mean_local_steps": _mean([m.mean_local_steps for m in rows]),
            "mean_batch_size": _mean([m.mean_batch_size for m in rows]),
            "mean_cpu_ghz": _mean([getattr(m, "mean_cpu_hz", math.nan) for m in rows]) / 1e9,
            "mean_tx_power_w": _mean([getattr(m, "mean_tx_power_w", math.nan) for m in rows])}


def rank_methods(results: Mapping[str, Sequence[Any]],
                 fraction: float = TARGET_FRACTION) -> tuple[float, list[dict[str, Any]]]:
    """(target accuracy, one :func:`method_summary` per method that ran, best first, with ``rank`` from 1).

    Methods that reach the target come first, by time to target (s) then energy to target (J); the others
    follow by final accuracy (higher first) then total energy. The first row is the winner when it reached
    the target (``winner`` True).

    >>> from types import SimpleNamespace as R
    >>> def rows(*acc): return [R(test_accuracy=a, time_s=10.0 * i, latency_s=1.0, cumulative_energy_j=i + 1.0,
    ...                         fallback="", mean_local_steps=5, mean_batch_size=32) for i, a in enumerate(acc)]
    >>> _, ranked = rank_methods({"slow": rows(0.1, 0.5, 0.9), "fast": rows(0.85, 0.9, 0.9)})
    >>> [(r["rank"], r["method"], r["winner"]) for r in ranked]
    [(1, 'fast', True), (2, 'slow', False)]
    """
    target = target_accuracy(results, fraction)
    rows = [method_summary(name, metrics, target) for name, metrics in results.items() if metrics]

    def key(r: dict[str, Any]) -> tuple[float, ...]:
        if r["rounds_to_target"] is not None:
            return (0.0, r["time_to_target_s"], r["energy_to_target_j"])
        return (1.0, -r["final_accuracy"], r["total_energy_j"])

    rows.sort(key=key)
    for i, r in enumerate(rows):
        r["rank"] = i + 1
        r["winner"] = i == 0 and r["rounds_to_target"] is not None
    return target, rows


def _knobs(r: Mapping[str, Any]) -> str:
    return f"{r['mean_local_steps']:.3g} local steps of batch {r['mean_batch_size']:.3g}"


def advantage(ranked: Sequence[Mapping[str, Any]]) -> str:
    """One line saying where the leader's lead over the runner-up comes from: fewer rounds to the target (more
    learning per round: its local steps and batch), shorter rounds (its tree, clock and power), or less
    energy at the same time; empty with fewer than two methods.

    >>> a = {"method": "a", "rounds_to_target": 2, "time_to_target_s": 20.0, "energy_to_target_j": 1.0,
    ...      "mean_local_steps": 10, "mean_batch_size": 8, "final_accuracy": 0.9, "mean_latency_s": 8.0}
    >>> b = {**a, "method": "b", "rounds_to_target": 6, "time_to_target_s": 36.0, "mean_local_steps": 5,
    ...      "mean_batch_size": 32, "mean_latency_s": 1.2}
    >>> advantage([a, b])  # doctest: +NORMALIZE_WHITESPACE
    'a leads b because it needs fewer rounds: 2 against 6 to the target (10 local steps of batch 8 against
     5 local steps of batch 32), although each of its rounds takes longer (8 s against 1.2 s of latency).'
    """
    if len(ranked) < 2:
        return ""
    lead, next_ = ranked[0], ranked[1]
    who = f"{lead['method']} leads {next_['method']}"
    if lead["rounds_to_target"] is None:
        return (f"No method reached the target; {lead['method']} ends with the best accuracy "
                f"({lead['final_accuracy']:.3f} against {next_['final_accuracy']:.3f}).")
    if next_["rounds_to_target"] is None:
        # Reaching methods sort first, so a runner-up that missed the target means the leader alone reached it.
        return (f"{who}: only it reaches the target within the run ({lead['rounds_to_target']} rounds, "
                f"{_knobs(lead)}); {next_['method']} ends at {next_['final_accuracy']:.3f} with {_knobs(next_)}.")
    n_l, n_r = lead["rounds_to_target"], next_["rounds_to_target"]
    # A round's own duration is its latency; on a cadence the wait for the next tick is the same for everyone.
    per_l, per_r = lead["mean_latency_s"], next_["mean_latency_s"]
    rounds = f"{n_l} against {n_r} to the target ({_knobs(lead)} against {_knobs(next_)})"
    pace = f"{per_l:.3g} s against {per_r:.3g} s of latency"
    if math.isclose(lead["time_to_target_s"], next_["time_to_target_s"], rel_tol=1e-9):
        return (f"{who} on energy at the same time to the target: {lead['energy_to_target_j']:.3g} J against "
                f"{next_['energy_to_target_j']:.3g} J.")
    if n_l < n_r:
        tail = "and each of its rounds is shorter" if per_l <= per_r else "although each of its rounds takes longer"
        return f"{who} because it needs fewer rounds: {rounds}, {tail} ({pace})."
    return (f"{who} because its rounds are shorter ({pace}: its tree, clock and power), in {n_l} rounds against "
            f"{n_r} ({_knobs(lead)} against {_knobs(next_)}).")
