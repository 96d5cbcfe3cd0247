"""PNG figures for plans and runs: forest map, per-round costs, accuracy curves, SCA history.

Every function takes plain arrays or metric rows and writes one PNG; none of them needs a
display (the Agg backend is forced), so they work on headless servers and in CI. Each ``plot_*`` has a
``*_figure`` twin that returns the unsaved matplotlib figure, for callers and tests that inspect its axes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fedspan.fileio import atomic_write_bytes  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.ticker import MaxNLocator, ScalarFormatter  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = getattr(fig, "_fedspan_legend_rows", 0)  # a figure legend below the axes needs room
    fig.tight_layout(rect=(0, 0.04 + 0.05 * rows if rows else 0, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130)
    plt.close(fig)
    # Written whole or not at all: an interrupt while figures are written never leaves a truncated PNG.
    return atomic_write_bytes(path, buffer.getvalue(), fsync=False)


def _plain_ticks(ax: plt.Axes) -> None:
    """Plain tick labels on linear axes: no offset ("1e-6+2.666e-2" over the axis turns a 1e-6 change into a
    cliff). Log and symlog axes have no offset to remove."""
    for axis in (ax.xaxis, ax.yaxis):
        formatter = axis.get_major_formatter()
        if isinstance(formatter, ScalarFormatter):
            formatter.set_useOffset(False)


def _sane_limits(ax: plt.Axes, values: Sequence[float], axis: str = "y", rel: float = 1e-3) -> None:
    """A single point or a series flat to ``rel`` of its size gets an axis of +-10 % around it (+-1 around 0)
    rather than matplotlib's +-0.045 around a lone dot or a magnified float noise."""
    vals = np.asarray(list(values), float)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return
    lo, hi = float(vals.min()), float(vals.max())
    scale = max(abs(lo), abs(hi))
    if hi - lo <= rel * scale:
        pad = 0.1 * scale if scale > 0 else 1.0
        (ax.set_ylim if axis == "y" else ax.set_xlim)(lo - pad, hi + pad)


def _round_axis(ax: plt.Axes, rounds: Sequence[int]) -> None:
    """Integer round ticks; a single round sits in the middle of a two-round-wide axis."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    r = [int(v) for v in rounds]
    if len(set(r)) == 1:
        ax.set_xlim(r[0] - 1, r[0] + 1)


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


def _draw_land(ax: plt.Axes) -> None:
    """Fill the land of the shipped 0.5 degree mask (:mod:`fedspan.landmask`) and outline its coasts."""
    from fedspan.landmask import RESOLUTION_DEG, land_mask

    land = land_mask().astype(float)
    lat = -90.0 + RESOLUTION_DEG * (np.arange(land.shape[0]) + 0.5)  # cell centres
    lon = -180.0 + RESOLUTION_DEG * (np.arange(land.shape[1]) + 0.5)
    ax.contourf(lon, lat, land, levels=[0.5, 1.5], colors=["#ece6d6"], zorder=0)
    ax.contour(lon, lat, land, levels=[0.5], colors=["#b5ab95"], linewidths=0.5, zorder=0.5)


def forest_map_figure(lat_deg: np.ndarray, lon_deg: np.ndarray, parent: np.ndarray,
                      title: str = "Spanning forest",
                      ground_stations: Sequence[tuple[str, float, float]] = (),
                      land: bool = True) -> plt.Figure:
    """The figure of :func:`plot_forest_map`, not saved."""
    lat_deg, lon_deg, parent = np.asarray(lat_deg), np.asarray(lon_deg), np.asarray(parent)
    fig, ax = plt.subplots(figsize=(11, 5.6))
    if land:
        _draw_land(ax)
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
    return fig


def plot_forest_map(path: Path, lat_deg: np.ndarray, lon_deg: np.ndarray, parent: np.ndarray,
                    title: str = "Spanning forest",
                    ground_stations: Sequence[tuple[str, float, float]] = (), land: bool = True) -> Path:
    """Draw satellites, the forest's edges and its roots on an equirectangular world map.

    ``land`` fills the continents from the coarse mask shipped with the package
    (:mod:`fedspan.landmask`, 0.5 degree; nothing is downloaded) under the satellites.
    """
    return _save(forest_map_figure(lat_deg, lon_deg, parent, title, ground_stations, land), path)


def round_costs_figure(rounds: Sequence[int], latency_s: Sequence[float], energy_j: Sequence[float],
                       title: str = "Per-round cost") -> plt.Figure:
    """The figure of :func:`plot_round_costs`, not saved (callers and tests can inspect its axes)."""
    fig, (ax_t, ax_e) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    ax_t.plot(rounds, latency_s, marker="o", ms=3)
    ax_t.set_ylabel("round latency [s]")
    ax_e.plot(rounds, energy_j, marker="o", ms=3, color="tab:orange")
    ax_e.set_ylabel("round energy [J]")
    ax_e.set_xlabel("round")
    _round_axis(ax_e, rounds)  # rounds are whole numbers (the axes share x)
    ax_t.set_title(title)
    for ax, values in ((ax_t, latency_s), (ax_e, energy_j)):
        ax.grid(True, alpha=0.3)
        _plain_ticks(ax)
        _sane_limits(ax, values)
    return fig


def plot_round_costs(path: Path, rounds: Sequence[int], latency_s: Sequence[float],
                     energy_j: Sequence[float], title: str = "Per-round cost") -> Path:
    """Latency and energy per round on two stacked axes (integer round ticks)."""
    return _save(round_costs_figure(rounds, latency_s, energy_j, title), path)


def battery_figure(runs: Mapping[str, Mapping[str, Sequence[float]]], floor: float | None = None,
                   title: str = "Battery state of charge") -> plt.Figure:
    """The lowest and the mean state of charge (fraction of capacity) after each round, per method.

    ``runs`` maps a method to ``sim_time_s``, ``min_soc`` and ``mean_soc``; ``floor`` draws the depth-of-discharge
    floor (1 - DoD) that no satellite the simulation let train goes below.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, c) in enumerate(runs.items()):
        hours = np.asarray(c["sim_time_s"], float) / 3600.0
        colour = f"C{i % 10}"
        ax.plot(hours, c["mean_soc"], marker="o", ms=3, color=colour, label=f"{name}: mean")
        ax.plot(hours, c["min_soc"], marker="v", ms=3, ls="--", color=colour, label=f"{name}: lowest")
    if floor is not None:
        ax.axhline(floor, color="k", lw=1, ls=":", label="depth-of-discharge floor")
    ax.set_xlabel("simulated time [h]")
    ax.set_ylabel("state of charge [fraction of capacity]")
    ax.set_ylim(0.0, 1.02)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_battery(path: Path, runs: Mapping[str, Mapping[str, Sequence[float]]], floor: float | None = None) -> Path:
    """Save :func:`battery_figure`."""
    return _save(battery_figure(runs, floor), path)


#: One marker per method, in order (the colour cycle repeats after ten).
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")


def accuracy_curves_figure(runs: Mapping[str, Mapping[str, Sequence[float]]], title: str = "Test accuracy",
                           target: float | None = None) -> plt.Figure:
    """The figure of :func:`plot_accuracy_curves`, not saved."""
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    seen: dict[tuple[float, ...], str] = {}
    accuracies: list[float] = []
    for i, (name, cols) in enumerate(runs.items()):
        # Every method has its own marker and, past the colour cycle, its own dash, so no two look alike.
        style = {"color": colours[i % len(colours)], "ls": ("-", "--", ":", "-.")[(i // len(colours)) % 4],
                 "marker": _MARKERS[i % len(_MARKERS)], "ms": 5}
        acc = tuple(round(float(a), 12) for a in cols["test_accuracy"])
        label = name
        if acc in seen:
            # A curve identical to an earlier one would hide under it: drawn hollow and larger, and said.
            label = f"{name} (same accuracy as {seen[acc]})"
            style.update(mfc="none", ms=9, lw=1.0)
        else:
            seen[acc] = name
        accuracies += list(acc)
        ax_t.plot(cols["sim_time_s"], cols["test_accuracy"], label=label, **style)
        ax_e.plot(cols["cumulative_energy_j"], cols["test_accuracy"], label=label, **style)
    ax_t.set_xlabel("simulated time [s]")
    ax_e.set_xlabel("cumulative energy [J]")
    ax_e.set_xscale("symlog")
    ax_t.set_ylabel("test accuracy")
    # Accuracy from 0 (a lone first-round point is not centred on a +-0.045 axis); time and energy from 0.
    finite = [a for a in accuracies + ([target] if target is not None else []) if np.isfinite(a)]
    ax_t.set_ylim(0.0, min(1.0, max(finite, default=1.0)) * 1.08 + 0.02)
    ax_t.set_xlim(left=0.0)
    ax_e.set_xlim(left=0.0)
    for ax in (ax_t, ax_e):
        _plain_ticks(ax)
        ax.grid(True, alpha=0.3)
        if target is not None and np.isfinite(target):
            ax.axhline(target, ls="--", lw=1.2, color="0.25", zorder=1, label=f"target {target:.3f}")
    # The legend goes below both panels, never over the curves.
    handles, labels = ax_t.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
        fig._fedspan_legend_rows = -(-len(labels) // 4)  # _save leaves room for it
    fig.suptitle(title)
    return fig


def plot_accuracy_curves(path: Path, runs: Mapping[str, Mapping[str, Sequence[float]]],
                         title: str = "Test accuracy", target: float | None = None) -> Path:
    """Accuracy vs simulated time and vs cumulative energy, one line per method.

    ``runs`` maps a method name to columns ``sim_time_s``, ``cumulative_energy_j`` and
    ``test_accuracy``. ``target``, when given, is drawn as a dashed horizontal line on both panels;
    the legend sits below the panels, off the data.
    """
    return _save(accuracy_curves_figure(runs, title, target), path)


#: How each planner phase is drawn on the exact-objective panel of the SCA figure.
_PHASE_STYLE = {"start": ("s", "start forests (each one a candidate)"),
                "sca": ("^", "SCA-rounded forests"),
                "search": ("o", "local-search rounds (a rise = restart from another forest)")}


def _phase_history(entry: Any) -> tuple[list[float], list[Mapping[str, Any]]]:
    """(SCA iteration objectives, phase entries) from a history given as a plain list (SCA only) or as a
    plan's solver info with ``sca_objective`` and ``phases``."""
    if isinstance(entry, Mapping):
        return [float(v) for v in entry.get("sca_objective") or []], list(entry.get("phases") or [])
    return [float(v) for v in entry], []


def sca_history_figure(histories: Mapping[str, Any],
                       title: str = "Planner objective by phase") -> plt.Figure:
    """The figure of :func:`plot_sca_history`, not saved.

    Left: the relaxed program's objective per SCA iteration. Right (when phases are given): the exact
    objective of every forest the planner scored, grouped by phase (start forests, SCA-rounded forests,
    local-search rounds) in shaded bands, so that a phase change is not read as divergence.
    """
    parsed = {name: _phase_history(h) for name, h in histories.items()}
    with_phases = any(phases for _, phases in parsed.values())
    ncols = 2 if with_phases else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols, 4.4), squeeze=False)
    ax_sca = axes[0][0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color = {name: colors[i % len(colors)] for i, name in enumerate(parsed)}
    for name, (sca, _) in parsed.items():
        if sca:
            ax_sca.plot(range(1, len(sca) + 1), sca, marker="o", ms=3, color=color[name], label=name)
    ax_sca.set_xlabel("SCA iteration")
    ax_sca.set_ylabel("relaxed (SCA) objective")
    ax_sca.set_title("SCA iterations: relaxed CCR program", fontsize=10)
    _round_axis(ax_sca, [i for sca, _ in parsed.values() for i in range(1, len(sca) + 1)] or [1, 2])
    ax_sca.grid(True, alpha=0.3)
    if not any(sca for sca, _ in parsed.values()):
        ax_sca.text(0.5, 0.5, "no SCA phase\n(problem above the SCA size limit)", ha="center", va="center",
                    transform=ax_sca.transAxes, color="0.4")
    if with_phases:
        ax = axes[0][1]
        order = [p for p in _PHASE_STYLE]
        # Bands line up across rounds: each phase gets as many slots as its longest run in any round.
        width = {ph: max(sum(1 for e in phases if e.get("phase") == ph) for _, phases in parsed.values())
                 for ph in order}
        offset, x0 = {}, 0
        for ph in order:
            offset[ph] = x0
            if width[ph]:
                ax.axvspan(x0 - 0.5, x0 + width[ph] - 0.5, color="0.93" if order.index(ph) % 2 == 0 else "0.86",
                           zorder=0)
                ax.text(x0 + (width[ph] - 1) / 2, 1.0, ph, transform=ax.get_xaxis_transform(), ha="center",
                        va="bottom", fontsize=9, color="0.3")
                x0 += width[ph]
        for name, (_, phases) in parsed.items():
            for ph in order:
                ys = [float(e.get("objective", np.nan)) for e in phases if e.get("phase") == ph]
                xs = np.arange(len(ys)) + offset[ph]
                ys_arr = np.asarray(ys, float)
                ok = np.isfinite(ys_arr)
                if ph == "search" and ok.sum() > 1:
                    # One line per search run: a rise means the search restarted from another start forest.
                    breaks = np.flatnonzero(np.diff(ys_arr) > 1e-12 * np.abs(ys_arr[:-1]))
                    for seg in np.split(np.arange(len(ys)), breaks + 1):
                        seg = seg[ok[seg]]
                        ax.plot(xs[seg], ys_arr[seg], color=color[name], lw=1.2, zorder=2)
                ax.scatter(xs[ok], ys_arr[ok], marker=_PHASE_STYLE[ph][0], s=28, color=color[name], zorder=3,
                           edgecolors="k", linewidths=0.4)
        ax.set_xlabel("step within phase (start | SCA | search)")
        ax.set_ylabel("exact objective of the forest")
        ax.set_title("Exact objective by phase (lower is better)", fontsize=10, pad=16)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.5, max(x0, 1) - 0.5)
        ax.grid(True, axis="y", alpha=0.3)
        from matplotlib.lines import Line2D

        marks = [Line2D([], [], ls="", marker=_PHASE_STYLE[ph][0], color="0.5", markeredgecolor="k",
                        label=_PHASE_STYLE[ph][1]) for ph in order if width[ph]]
        ax.legend(handles=marks, fontsize=7, loc="best", framealpha=0.85)
    for ax in axes[0]:
        _plain_ticks(ax)
    flat = [v for sca, _ in parsed.values() for v in sca]
    _sane_limits(ax_sca, flat)
    if with_phases:
        _sane_limits(axes[0][1], [float(e.get("objective", np.nan)) for _, phases in parsed.values() for e in phases])
    if 0 < len(parsed) <= 12:
        handles = [plt.Line2D([], [], color=color[n], marker="o", ms=4, label=n) for n in parsed]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
        fig._fedspan_legend_rows = -(-len(handles) // 6)
    fig.suptitle(title)
    return fig


def plot_sca_history(path: Path, histories: Mapping[str, Any],
                     title: str = "Planner objective by phase") -> Path:
    """The planner's progress per round (or per problem).

    Each value of ``histories`` is either a list of SCA objectives (one per iteration) or a plan's solver
    info with ``sca_objective`` (SCA iterations) and ``phases`` (``{phase, source, objective}`` for the
    start, SCA-rounded and search entries); see :func:`sca_history_figure`.
    """
    return _save(sca_history_figure(histories, title), path)


def sweep_figure(x: Sequence[float], series: Mapping[str, Sequence[float]], xlabel: str, title: str,
                 yerr: Mapping[str, Sequence[float]] | None = None, logx: bool = False,
                 logy: bool | Collection[str] = False, y_from_zero: bool | Collection[str] = False,
                 annotate: bool = False, integer_x: bool = False) -> plt.Figure:
    """The figure of :func:`plot_sweep`, not saved."""
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.8), squeeze=False)

    def wants(flag: bool | Collection[str], name: str) -> bool:
        return flag if isinstance(flag, bool) else name in flag

    for ax, (name, values) in zip(axes[0], series.items()):
        err = None if yerr is None else yerr.get(name)
        ax.errorbar(x, values, yerr=err, marker="o", ms=4, capsize=3)
        ax.set_xlabel(xlabel)
        label = name
        if logx:
            ax.set_xscale("log")
        if wants(logy, name):
            ax.set_yscale("log")
            label += " (log)"
        elif wants(y_from_zero, name):
            vals = np.asarray(values, float) + (0.0 if err is None else np.asarray(err, float))
            top = float(np.nanmax(vals)) if np.isfinite(vals).any() else 1.0
            ax.set_ylim(0.0, top * 1.15 if top > 0 else 1.0)
            label += "\n(axis from 0)"
        if annotate:
            if not wants(y_from_zero, name) or wants(logy, name):
                ax.margins(y=0.15)  # room for the value written above the top point
            for xi, yi in zip(x, values):
                ax.annotate(f"{yi:.3g}", (xi, yi), fontsize=7, xytext=(0, 6), textcoords="offset points",
                            ha="center")
        if integer_x and not logx:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _plain_ticks(ax)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_sweep(path: Path, x: Sequence[float], series: Mapping[str, Sequence[float]],
               xlabel: str, title: str, yerr: Mapping[str, Sequence[float]] | None = None,
               logx: bool = False, logy: bool | Collection[str] = False,
               y_from_zero: bool | Collection[str] = False, annotate: bool = False,
               integer_x: bool = False) -> Path:
    """One panel per metric against a swept parameter (K, weights, size).

    ``logy`` and ``y_from_zero`` take True (every panel) or the names of the panels they apply to;
    ``y_from_zero`` starts the axis at 0 so that a 1 % difference does not fill the panel (the label
    says so), ``annotate`` writes each point's value beside it.
    """
    return _save(sweep_figure(x, series, xlabel, title, yerr, logx, logy, y_from_zero, annotate, integer_x),
                 path)


def cost_by_method_figure(methods: Sequence[str], series: Mapping[str, Sequence[float]],
                          title: str = "Cost by method", winner: str | None = None) -> plt.Figure:
    """The figure of :func:`plot_cost_by_method`, not saved."""
    methods = list(methods)
    fig, axes = plt.subplots(1, len(series), figsize=(3.6 * len(series) + 1.6, 0.42 * len(methods) + 1.8),
                             sharey=True, squeeze=False)
    ypos = np.arange(len(methods))
    for ax, (name, values) in zip(axes[0], series.items()):
        vals = np.asarray(values, float)
        ok = np.isfinite(vals)
        colours = ["tab:orange" if m == winner else "tab:blue" for m in methods]
        ax.barh(ypos[ok], vals[ok], color=[c for c, k in zip(colours, ok) if k], height=0.6)
        top = float(vals[ok].max()) if ok.any() else 1.0
        ax.set_xlim(0.0, top * 1.35 if top > 0 else 1.0)  # from 0, with room for the values written beside the bars
        for y, v, k in zip(ypos, vals, ok):
            text = (f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}") if k else "not reached"  # never 1.21e+03
            ax.annotate(text, (v if k else 0.0, y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=8, color="0.2" if k else "0.5")
        ax.set_xlabel(name)
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0][0].set_yticks(ypos)
    axes[0][0].set_yticklabels([f"{m} ★" if m == winner else m for m in methods])
    axes[0][0].invert_yaxis()  # the first method (the ranking's best) on top
    fig.suptitle(title)
    return fig


def plot_cost_by_method(path: Path, methods: Sequence[str], series: Mapping[str, Sequence[float]],
                        title: str = "Cost by method", winner: str | None = None) -> Path:
    """Horizontal bars per method (names on the axis, never as indices), one panel per metric.

    ``series`` maps a panel's axis label (with its unit) to one value per method, NaN for "not reached";
    each axis starts at 0 and each bar carries its value; ``winner`` is drawn in another colour and starred.
    """
    return _save(cost_by_method_figure(methods, series, title, winner), path)
