"""PNG figures of the suite, drawn from the results JSON (reusing ``fedspan.plots`` where it fits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedspan.plots import plot_accuracy_curves, plot_sweep


def _mean_std(rows: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    return [r[metric]["mean"] for r in rows], [r[metric]["std"] or 0.0 for r in rows]


def accuracy_figure(path: Path, scenario: str, curves: dict[str, dict[str, list[float]]],
                    target: float) -> Path:
    """Seed-averaged accuracy vs simulated time and vs cumulative energy, one line per method."""
    return plot_accuracy_curves(path, curves, title=f"{scenario}: test accuracy (mean over seeds; "
                                                    f"target {target:.3f})", target=target)


def k_figure(path: Path, k_summary: dict[str, Any]) -> Path | None:
    """Number of trees K vs final accuracy, energy per round and round latency."""
    rows = k_summary["rows"]
    if not rows:
        return None
    series, errors = {}, {}
    for metric, label in (("final_accuracy", "final accuracy"), ("energy_per_round_j", "energy per round [J]"),
                          ("mean_latency_s", "mean round latency [s]")):
        series[label], errors[label] = _mean_std(rows, metric)
    # Axes from 0 with each value written beside its point: a 1 % difference between K values stays small
    # on the page, and the numbers are still readable.
    return plot_sweep(path, [r["k"] for r in rows], series, xlabel="number of trees K",
                      title=f"Fed-Span MSF: K sweep on {k_summary['scenario']} (mean ± std over seeds)", yerr=errors,
                      y_from_zero=True, annotate=True, integer_x=True)


def weights_figure(path: Path, weights_summary: dict[str, Any]) -> Path | None:
    """Trade-off front: energy per round vs latency per weight vector, coloured by final accuracy."""
    import matplotlib.pyplot as plt

    rows = weights_summary["rows"]
    if not rows:
        return None
    energy = [r["energy_per_round_j"]["mean"] for r in rows]
    latency = [r["mean_latency_s"]["mean"] for r in rows]
    accuracy = [r["final_accuracy"]["mean"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    points = ax.scatter(energy, latency, c=accuracy, cmap="viridis", s=70, edgecolors="k", zorder=3)
    for e, t, r in zip(energy, latency, rows):
        w = "/".join(f"{x:g}" for x in r["weights"])
        ax.annotate(f"w={w}", (e, t), fontsize=8, xytext=(5, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("energy per round [J] (log)")
    ax.set_ylabel("mean round latency [s]")
    ax.grid(True, alpha=0.3)
    fig.colorbar(points, ax=ax, label="final test accuracy")
    ax.set_title("Fed-Span weights (loss/energy/latency): trade-off front")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def size_figure(path: Path, sizes: list[dict[str, Any]]) -> Path | None:
    """Constellation size vs planner wall time and plan quality against the warm start."""
    rows = sorted(sizes, key=lambda r: r["satellites"])
    if not rows:
        return None
    return plot_sweep(path, [r["satellites"] for r in rows],
                      {"planner wall time [s]": [r["planner_s"] for r in rows],
                       "objective / distance-MST warm start": [r["objective_vs_warm_start"] for r in rows]},
                      xlabel="satellites (Walker 53°, 550 km, log)", title="Planner time vs constellation size",
                      logx=True, logy={"planner wall time [s]"},
                      y_from_zero={"objective / distance-MST warm start"}, annotate=True)
