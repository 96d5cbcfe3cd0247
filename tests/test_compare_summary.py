"""`fedspan compare`'s summary a person can act on: ranking by time to target then energy, the winner marked,
the knobs each method used, one line on why the leader leads, and the cost-by-method bar chart."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest

from fedspan.cli.outputs import knob_notes, print_compare_summary, run_figures, write_comparison
from fedspan.metrics import RoundMetrics
from fedspan.plots import cost_by_method_figure
from fedspan.ranking import advantage, rank_methods


def _rows(acc, latency, energy_per_round, steps=5.0, batch=32.0, interval=600.0, cpu_hz=1.5e9, power_w=2.0):
    return [RoundMetrics(round=i, time_s=interval * i, latency_s=latency, idle_s=0.0, energy_j=energy_per_round,
                         cumulative_energy_j=energy_per_round * (i + 1), test_accuracy=a, test_loss=1.0,
                         train_loss=1.0, participating=66, available=66, messages=130, num_roots=1,
                         mean_local_steps=steps, mean_batch_size=batch, mean_cpu_hz=cpu_hz, mean_tx_power_w=power_w)
            for i, a in enumerate(acc)]


def _results():
    # Fed-Span: fewer rounds (more steps of a smaller batch) but longer rounds; mst and bfs identical curves.
    metrics = {"mst": _rows([0.3, 0.5, 0.7, 0.8], 1.2, 10.0), "bfs": _rows([0.3, 0.5, 0.7, 0.8], 1.2, 12.0),
               "fedspan": _rows([0.5, 0.8, 0.85, 0.86], 8.2, 0.1, steps=10, batch=8, cpu_hz=0.1e9, power_w=0.12),
               "star": _rows([0.1, 0.2, 0.3, 0.4], 1.0, 2.0)}
    return {name: SimpleNamespace(metrics=rows, config=None) for name, rows in metrics.items()}


def test_ranked_by_time_to_target_then_energy_with_the_winner_first():
    target, ranked = rank_methods({n: r.metrics for n, r in _results().items()})
    assert target == pytest.approx(0.9 * 0.86)
    assert [r["method"] for r in ranked] == ["fedspan", "mst", "bfs", "star"]  # mst ties bfs on time, less energy
    assert [r["winner"] for r in ranked] == [True, False, False, False]
    fs, mst = ranked[0], ranked[1]
    assert fs["rounds_to_target"] == 2 and fs["time_to_target_s"] == pytest.approx(608.2)
    assert fs["energy_to_target_j"] == pytest.approx(0.2) and math.isnan(ranked[3]["time_to_target_s"])
    assert (fs["mean_local_steps"], fs["mean_batch_size"], fs["mean_cpu_ghz"]) == (10, 8, pytest.approx(0.1))
    line = advantage(ranked)
    assert line.startswith("fedspan leads mst because it needs fewer rounds: 2 against 4")
    assert "10 local steps of batch 8 against 5 local steps of batch 32" in line and "takes longer" in line
    assert advantage(ranked[1:3]).startswith("mst leads bfs on energy at the same time to the target")
    assert "only it reaches the target" in advantage([fs, ranked[3]])


def test_compare_summary_prints_ranking_knobs_and_reason_at_80_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    results = _results()
    notes = print_compare_summary(results)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "fedspan" in line and "★" in line)
    assert lines.index(next(line for line in lines if " mst " in line)) > first  # ranked, not alphabetical
    for column in ("to target s", "to target J", "steps", "batch", "clock GHz", "power W"):
        assert column in out, column
    assert "not reached" in out and "…" not in out  # no column cut
    assert "fedspan leads mst because it needs fewer rounds" in " ".join(out.split())
    assert notes[0].endswith("winner: fedspan")
    assert "fedspan: local steps 10, batch 8, clock 0.1 GHz" in "\n".join(knob_notes(results))
    write_comparison(tmp_path, results)
    summary = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [(s["rank"], s["method"], s["winner"]) for s in summary][:2] == [("1", "fedspan", "True"), ("2", "mst", "False")]
    assert float(summary[0]["mean_local_steps"]) == 10 and float(summary[0]["time_to_target_s"]) == pytest.approx(608.2)


def test_cost_by_method_is_a_labelled_bar_chart_from_zero():
    fig = cost_by_method_figure(["fedspan", "a-long-method-name", "star"],
                                {"time to target [s]": [608.2, 2401.3, float("nan")],
                                 "total energy [J]": [0.0266661, 0.0266672, 2.0]}, winner="fedspan")
    axes = fig.axes
    assert len(axes) == 2
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels == ["fedspan ★", "a-long-method-name", "star"]  # names on the axis, not indices
    assert all(len(ax.patches) == n for ax, n in zip(axes, (2, 3)))  # bars; NaN is written "not reached"
    assert "not reached" in [t.get_text() for t in axes[0].texts]
    for ax in axes:
        assert ax.get_xlim()[0] == 0.0
        fig.canvas.draw()
        assert ax.xaxis.get_offset_text().get_text() == ""  # no "1e-6+2.666e-2" offset
    assert "1.21e+03" not in [t.get_text() for t in axes[0].texts] and "2401" in [t.get_text() for t in axes[0].texts]
    fig.tight_layout()
    fig.canvas.draw()
    # The method names fit left of the first panel, and the panels' x labels do not overlap each other.
    renderer = fig.canvas.get_renderer()
    boxes = [ax.xaxis.label.get_window_extent(renderer) for ax in axes]
    assert boxes[0].x1 < boxes[1].x0
    assert min(t.get_window_extent(renderer).x0 for t in axes[0].get_yticklabels()) >= 0
    plt.close(fig)


def test_compare_figures_use_the_ranking(tmp_path):
    files = run_figures(tmp_path, _results())
    assert [f.name for f in files] == ["accuracy.png", "cost-by-method.png"]
    assert (tmp_path / "cost-by-method.png").read_bytes()[:4] == b"\x89PNG"
