"""Every figure function writes a PNG; the properties a reader relies on are checked on the matplotlib objects."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.contour import ContourSet
from matplotlib.ticker import MaxNLocator

from fedspan import landmask, plots

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG


def _curves(n: int = 5) -> dict[str, dict[str, list[float]]]:
    t = list(range(n))
    return {name: {"sim_time_s": [10.0 * i for i in t], "cumulative_energy_j": [5.0 * (i + 1) for i in t],
                   "test_accuracy": [min(0.95, 0.2 + k * 0.15 * i) for i in t]}
            for k, name in enumerate(("Fed-Span K=1", "distance MST", "star FedAvg"), 1)}


def _phases() -> dict:
    return {"sca_objective": [3.0, 2.2, 2.0, 1.99],
            "phases": [{"phase": "start", "source": "spt", "objective": 0.40},
                       {"phase": "start", "source": "bfs", "objective": 0.45},
                       {"phase": "start", "source": "distance-mst", "objective": 0.52},
                       {"phase": "sca", "source": "sca", "objective": 0.42},
                       {"phase": "search", "source": "", "objective": 0.38},
                       {"phase": "search", "source": "", "objective": 0.35},
                       {"phase": "search", "source": "", "objective": 0.44},  # restart from another forest
                       {"phase": "search", "source": "", "objective": 0.41}]}


def test_forest_map_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-60, 60, 12), rng.uniform(-180, 180, 12)
    parent = np.array([-1, 0, 0, 1, 1, 2, -1, 6, 6, 7, 8, 9])
    assert _is_png(plots.plot_forest_map(tmp_path / "map.png", lat, lon, parent, ground_stations=[("gs", 10, 20)]))


def test_land_mask_ships_with_the_package_and_knows_land_from_sea():
    land = landmask.land_mask()
    assert land.shape == (360, 720) and land.dtype == bool and not land.flags.writeable
    assert 0.25 < land.mean() < 0.40  # about 29 % of the Earth is land; GLOBE counts lakes and ice as land
    lat = [23.0, 0.0, -85.0, -45.0, 40.0, 30.0, 64.5, -25.0]
    lon = [13.0, -150.0, 100.0, -30.0, -100.0, -40.0, -18.0, 134.0]
    #      Sahara, mid-Pacific, Antarctica, South Atlantic, Kansas, North Atlantic, Iceland, Australia
    assert landmask.is_land(lat, lon).tolist() == [True, False, True, False, True, False, True, True]
    assert landmask.is_land(-90.0, 180.0) and not landmask.is_land(0.0, 180.0 + 360.0 * 2)


def test_land_mask_loader_refuses_a_wrong_file(tmp_path):
    bad = tmp_path / "mask.npz"
    np.savez(bad, packed=np.zeros(10, np.uint8), shape=np.array([360, 720]), resolution_deg=np.float64(0.5))
    with pytest.raises(ValueError, match="not a"):
        landmask._read(bad)
    np.savez(bad, packed=np.array([object()], dtype=object))
    with pytest.raises(ValueError):  # neither pickles nor unknown arrays are read
        landmask._read(bad)


def test_forest_map_draws_land_under_the_satellites(tmp_path):
    lat, lon, parent = np.array([10.0, 20.0, -30.0]), np.array([0.0, 170.0, -170.0]), np.array([-1, 0, 1])
    fig = plots.forest_map_figure(lat, lon, parent)
    (ax,) = fig.axes
    fills = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]
    assert fills and max(c.get_zorder() for c in ax.collections if isinstance(c, ContourSet)) < 3
    assert not [c for c in plots.forest_map_figure(lat, lon, parent, land=False).axes[0].collections
                if isinstance(c, ContourSet)]
    path = plots.plot_forest_map(tmp_path / "land.png", lat, lon, parent)
    assert _is_png(path) and path.stat().st_size > 10_000


def test_round_costs_has_integer_round_ticks(tmp_path):
    fig = plots.round_costs_figure([0, 1, 2], [1.0, 1.5, 1.2], [10.0, 12.0, 11.0])
    locator = fig.axes[-1].xaxis.get_major_locator()
    assert isinstance(locator, MaxNLocator) and locator._integer
    ticks = [t for t in fig.axes[-1].get_xticks() if 0 <= t <= 2]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert _is_png(plots.plot_round_costs(tmp_path / "round-costs.png", [0, 1, 2], [1.0, 1.5, 1.2], [10, 12, 11]))


def test_accuracy_curves_draw_the_target_and_keep_the_legend_off_the_axes(tmp_path):
    fig = plots.accuracy_curves_figure(_curves(), target=0.8)
    for ax in fig.axes:
        dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), 0.8)
        assert ax.get_legend() is None  # no legend drawn inside a panel
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert "target 0.800" in labels and "distance MST" in labels
    # Without a target there is no dashed line.
    assert not [ln for ln in plots.accuracy_curves_figure(_curves()).axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert _is_png(plots.plot_accuracy_curves(tmp_path / "acc.png", _curves(), target=0.8))


def test_sca_history_shows_the_phases_apart(tmp_path):
    fig = plots.sca_history_figure({"round 0": _phases(), "round 1": _phases()})
    ax_sca, ax_phase = fig.axes
    assert "SCA" in ax_sca.get_title() and "phase" in ax_phase.get_title()
    band_labels = {t.get_text() for t in ax_phase.texts}
    assert {"start", "sca", "search"} <= band_labels
    legend = [t.get_text() for t in ax_phase.get_legend().get_texts()]
    assert any("start" in t for t in legend) and any("search" in t for t in legend)
    # The search restart (0.35 -> 0.44) is not joined by a line: two search segments per round.
    search_lines = [ln for ln in ax_phase.get_lines() if len(ln.get_xdata()) >= 1]
    assert len(search_lines) == 4
    assert _is_png(plots.plot_sca_history(tmp_path / "sca-objective.png", {"round 0": _phases()}))
    # The old input (a plain list of SCA objectives per round) still draws.
    assert _is_png(plots.plot_sca_history(tmp_path / "legacy.png", {"round 0": [3.0, 2.0, 1.9]}))
    assert len(plots.sca_history_figure({"round 0": [3.0, 2.0]}).axes) == 1


def test_sweep_options_zero_axis_log_scales_and_labels(tmp_path):
    fig = plots.sweep_figure([1, 2, 3], {"final accuracy": [0.90, 0.905, 0.91], "time [s]": [1.0, 10.0, 100.0]},
                             xlabel="K", title="t", y_from_zero={"final accuracy"}, logy={"time [s]"},
                             annotate=True, integer_x=True)
    acc, time_ax = fig.axes
    assert acc.get_ylim()[0] == 0.0 and "from 0" in acc.get_ylabel()
    assert time_ax.get_yscale() == "log" and acc.get_yscale() == "linear"
    assert isinstance(acc.xaxis.get_major_locator(), MaxNLocator)
    assert any(t.get_text() == "0.905" for t in acc.texts)
    assert _is_png(plots.plot_sweep(tmp_path / "sweep.png", [1, 2], {"a": [1.0, 2.0]}, xlabel="x", title="t"))


def test_benchmark_sweep_figures(tmp_path, monkeypatch):
    from benchmarks import figures

    seen = {}
    real = plots.sweep_figure

    def spy(*args, **kwargs):
        fig = real(*args, **kwargs)
        seen[args[3] if len(args) > 3 else kwargs["title"]] = fig
        return fig

    monkeypatch.setattr(plots, "sweep_figure", spy)
    stat = lambda m: {"mean": m, "std": 0.001}  # noqa: E731
    rows = [{"k": k, "final_accuracy": stat(0.90 + 0.005 * k), "energy_per_round_j": stat(10.0 + 0.1 * k),
             "mean_latency_s": stat(2.0 - 0.01 * k)} for k in (1, 2, 3)]
    assert _is_png(figures.k_figure(tmp_path / "sweep-trees.png", {"scenario": "s", "rows": rows}))
    (k_fig,) = [f for t, f in seen.items() if "K sweep" in t]
    for ax in k_fig.axes:  # a 1 % spread does not fill the panel
        low, high = ax.get_ylim()
        assert low == 0.0 and "from 0" in ax.get_ylabel()
    sizes = [{"satellites": n, "planner_s": 0.01 * n, "objective_vs_warm_start": 0.8} for n in (66, 264, 1584)]
    assert _is_png(figures.size_figure(tmp_path / "sweep-size-planner.png", sizes))
    (s_fig,) = [f for t, f in seen.items() if "size" in t]
    time_ax, ratio_ax = s_fig.axes
    assert time_ax.get_xscale() == "log" and time_ax.get_yscale() == "log"
    assert ratio_ax.get_xscale() == "log"
    curves = {k: {**v} for k, v in _curves().items()}
    assert _is_png(figures.accuracy_figure(tmp_path / "accuracy-s.png", "s", curves, 0.8))


def test_accuracy_curves_keep_methods_apart_past_the_colour_cycle():
    from fedspan.plots import accuracy_curves_figure

    runs = {f"m{i}": {"sim_time_s": [0, 1], "cumulative_energy_j": [1, 2], "test_accuracy": [0.1, 0.2]}
            for i in range(17)}
    fig = accuracy_curves_figure(runs, target=0.5)
    lines = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("m")]
    styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in lines}
    assert len(styles) == 17


def _offset_texts(fig) -> list[str]:
    fig.canvas.draw()
    return [t for ax in fig.axes for t in (ax.xaxis.get_offset_text().get_text(), ax.yaxis.get_offset_text().get_text())
            if t]


def test_round_costs_have_no_offset_and_flat_series_are_not_cliffs():
    # 1e-7 J changes on 2.666e-2 J used to read "1e-6+2.666e-2" with a full-height cliff.
    energy = [0.02666 + 1e-7 * k for k in (0, 3, 1, 2)]
    fig = plots.round_costs_figure([0, 1, 2, 3], [8.2, 8.2 + 1e-9, 8.2, 8.2], energy)
    assert _offset_texts(fig) == []
    ax_t, ax_e = fig.axes
    low, high = ax_e.get_ylim()
    assert high - low >= 0.1 * 0.02666  # the change is shown as the nothing it is
    assert low < min(energy) and high > max(energy)
    assert ax_e.get_ylabel() == "round energy [J]" and ax_t.get_ylabel() == "round latency [s]"


def test_one_round_plots_are_a_point_on_a_sane_axis():
    fig = plots.round_costs_figure([0], [1.3], [0.05])
    ax_t, ax_e = fig.axes
    assert ax_e.get_xlim() == (-1.0, 1.0)
    assert ax_t.get_ylim() == pytest.approx((1.3 * 0.9, 1.3 * 1.1)) and ax_e.get_ylim() == pytest.approx((0.045, 0.055))
    fig.canvas.draw()
    assert all(float(t.get_text().replace("−", "-")) == int(float(t.get_text().replace("−", "-")))
               for t in ax_e.get_xticklabels() if t.get_text())  # whole rounds
    acc = plots.accuracy_curves_figure({"mst": {"sim_time_s": [601.2], "cumulative_energy_j": [11.9],
                                                "test_accuracy": [0.41]}})
    ax_time, ax_energy = acc.axes
    assert ax_time.get_ylim()[0] == 0.0 and 0.41 < ax_time.get_ylim()[1] <= 1.0
    assert ax_time.get_xlim()[0] == 0.0 and ax_time.get_xlim()[1] > 601.2
    assert ax_energy.get_xlim()[0] == 0.0 and _offset_texts(acc) == []
    sca = plots.sca_history_figure({"round 0": [0.026661]})
    assert sca.axes[0].get_xlim() == (0.0, 2.0) and sca.axes[0].get_ylim()[1] - sca.axes[0].get_ylim()[0] > 1e-3


def test_sca_objective_has_no_offset():
    hist = {"round 0": {"sca_objective": [2.6661e-2, 2.66605e-2, 2.66601e-2],
                        "phases": [{"phase": "start", "objective": 2.66601e-2}, {"phase": "search", "objective": 2.666e-2}]}}
    fig = plots.sca_history_figure(hist)
    assert _offset_texts(fig) == []
    assert [ax.get_ylabel() for ax in fig.axes] == ["relaxed (SCA) objective", "exact objective of the forest"]


def test_coinciding_accuracy_curves_stay_distinguishable():
    same = {"sim_time_s": [600.0, 1200.0, 1800.0], "cumulative_energy_j": [12.0, 24.0, 36.0],
            "test_accuracy": [0.3, 0.45, 0.48]}
    runs = {"fedspan": {**same, "test_accuracy": [0.5, 0.6, 0.67]}, "mst": same, "bfs": dict(same), "ring": dict(same)}
    fig = plots.accuracy_curves_figure(runs)
    lines = fig.axes[0].get_lines()
    assert len({line.get_marker() for line in lines}) == 4  # each method its own marker
    labels = [line.get_label() for line in lines]
    assert labels == ["fedspan", "mst", "bfs (same accuracy as mst)", "ring (same accuracy as mst)"]
    assert lines[2].get_markerfacecolor() == "none" and lines[2].get_markersize() > lines[1].get_markersize()
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == labels
