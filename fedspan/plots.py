"""PNG figures for plans and runs: forest map, per-round costs, accuracy curves, SCA history.

Every function takes plain arrays or metric rows and writes one PNG; none of them needs a
display (the Agg backend is forced), so they work on headless servers and in CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _wrapped_segments(lon_a: np.ndarray, lat_a: np.ndarray, lon_b: np.ndarray,
                      lat_b: np.ndarray) -> np.ndarray:
    """Segments on an equirectangular map; links across the antimeridian are split in two so they
    do not streak across the whole map."""
    dlon = lon_b - lon_a
    crosses = np.abs(dlon) > 180.0
    plain = np.stack([np.stack([lon_a, lat_a], -1), np.stack([lon_b, lat_b], -1)], 1)[~crosses]
    if not crosses.any():
        return plain
    a_lon, a_lat, b_lon, b_lat = lon_a[crosses], lat_a[crosses], lon_b[crosses], lat_b[crosses]
    # Unwrap b next to a, cut at the edge the link crosses, and draw both halves.
    b_unwrapped = b_lon - 360.0 * np.sign(b_lon - a_lon)
    edge = np.where(b_unwrapped > a_lon, 180.0, -180.0)
    frac = (edge - a_lon) / (b_unwrapped - a_lon)
    cut_lat = a_lat + frac * (b_lat - a_lat)
    first = np.stack([np.stack([a_lon, a_lat], -1), np.stack([edge, cut_lat], -1)], 1)
    second = np.stack([np.stack([-edge, cut_lat], -1), np.stack([b_lon, b_lat], -1)], 1)
    return np.concatenate([plain, first, second])


def plot_forest_map(path: Path, lat_deg: np.ndarray, lon_deg: np.ndarray, parent: np.ndarray,
                    title: str = "Spanning forest",
                    ground_stations: Sequence[tuple[str, float, float]] = ()) -> Path:
    """Draw satellites, the forest's edges and its roots on an equirectangular world map."""
    lat_deg, lon_deg, parent = np.asarray(lat_deg), np.asarray(lon_deg), np.asarray(parent)
    fig, ax = plt.subplots(figsize=(11, 5.6))
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_xticks(range(-180, 181, 60))
    ax.set_yticks(range(-90, 91, 30))
    ax.grid(True, color="0.85", lw=0.5)
    ax.set_xlabel("longitude [deg]")
    ax.set_ylabel("latitude [deg]")
    child = np.flatnonzero(parent >= 0)
    if child.size:
        segs = _wrapped_segments(lon_deg[child], lat_deg[child], lon_deg[parent[child]],
                                 lat_deg[parent[child]])
        ax.add_collection(LineCollection(segs, colors="tab:blue", linewidths=0.7, alpha=0.8,
                                         label="tree edge"))
    roots = np.flatnonzero(parent < 0)
    size = 8 if len(parent) < 500 else 2
    ax.scatter(lon_deg, lat_deg, s=size, c="0.3", zorder=3, label="satellite")
    ax.scatter(lon_deg[roots], lat_deg[roots], s=90, marker="*", c="tab:red", zorder=4,
               label=f"root ({len(roots)})")
    for name, gs_lat, gs_lon in ground_stations:
        ax.scatter([gs_lon], [gs_lat], s=60, marker="^", c="tab:green", zorder=4)
        ax.annotate(name, (gs_lon, gs_lat), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def plot_round_costs(path: Path, rounds: Sequence[int], latency_s: Sequence[float],
                     energy_j: Sequence[float], title: str = "Per-round cost") -> Path:
    """Latency and energy per round on two stacked axes."""
    fig, (ax_t, ax_e) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    ax_t.plot(rounds, latency_s, marker="o", ms=3)
    ax_t.set_ylabel("round latency [s]")
    ax_e.plot(rounds, energy_j, marker="o", ms=3, color="tab:orange")
    ax_e.set_ylabel("round energy [J]")
    ax_e.set_xlabel("round")
    ax_t.set_title(title)
    for ax in (ax_t, ax_e):
        ax.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_accuracy_curves(path: Path, runs: Mapping[str, Mapping[str, Sequence[float]]],
                         title: str = "Test accuracy") -> Path:
    """Accuracy vs simulated time and vs cumulative energy, one line per method.

    ``runs`` maps a method name to columns ``sim_time_s``, ``cumulative_energy_j`` and
    ``test_accuracy``.
    """
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for name, cols in runs.items():
        ax_t.plot(cols["sim_time_s"], cols["test_accuracy"], marker=".", label=name)
        ax_e.plot(cols["cumulative_energy_j"], cols["test_accuracy"], marker=".", label=name)
    ax_t.set_xlabel("simulated time [s]")
    ax_e.set_xlabel("cumulative energy [J]")
    ax_e.set_xscale("symlog")
    ax_t.set_ylabel("test accuracy")
    for ax in (ax_t, ax_e):
        ax.grid(True, alpha=0.3)
    ax_e.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_sca_history(path: Path, histories: Mapping[str, Sequence[float]],
                     title: str = "SCA objective per iteration") -> Path:
    """Objective per SCA iteration, one line per round (or per problem)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, values in histories.items():
        ax.plot(range(len(values)), values, marker="o", ms=3, label=name)
    ax.set_xlabel("SCA iteration")
    ax.set_ylabel("objective")
    ax.grid(True, alpha=0.3)
    if 0 < len(histories) <= 12:
        ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_sweep(path: Path, x: Sequence[float], series: Mapping[str, Sequence[float]],
               xlabel: str, title: str, yerr: Mapping[str, Sequence[float]] | None = None,
               logx: bool = False) -> Path:
    """One panel per metric against a swept parameter (K, weights, size)."""
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.8), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        err = None if yerr is None else yerr.get(name)
        ax.errorbar(x, values, yerr=err, marker="o", ms=4, capsize=3)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
        if logx:
            ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)
