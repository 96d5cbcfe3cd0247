"""What the commands write and print: CSV and config files, summaries, figures."""

from __future__ import annotations

import math

from pathlib import Path
from typing import Any

import typer


def finishing(kept: str, step: Any) -> Any:
    """Run ``step()`` (figures, tables, the summary after the last round); an interrupt there says what was kept.

    ``kept`` completes "interrupted while writing the figures and tables: ...", e.g. "all 20 rounds
    are kept in runs/run". Exits 130 (Ctrl-C) or 143 (SIGTERM), as in every other phase.
    """
    from fedspan.interrupts import exit_code, what

    try:
        return step()
    except KeyboardInterrupt as exc:
        typer.echo(f"{what(exc)} while writing the figures and tables: {kept}; run the same command again to "
                   f"write them", err=True)
        raise typer.Exit(exit_code(exc)) from None


def write_outputs_note(files: list[Path]) -> None:
    typer.echo("wrote: " + ", ".join(str(f) for f in files))


def plan_figures(out: Path, scenario: Any, done: list) -> list[Path]:
    import numpy as np

    from fedspan.plots import plot_forest_map, plot_round_costs, plot_sca_history

    if not done:
        return []
    first = done[0]
    lat, lon = scenario.subpoints(first.time_s)
    stations = [(s.name, s.lat_deg, s.lon_deg) for s in scenario.ground_stations] \
        if scenario.config.ground_stations else []
    files = [plot_forest_map(out / "forest-map.png", lat, lon, np.asarray(first.parent),
                             title=f"Round 0 forest at {first.time_utc[:19]} UTC: {len(first.roots)} tree(s), "
                                   f"depth {first.max_depth}", ground_stations=stations),
             plot_round_costs(out / "round-costs.png", [p.round for p in done], [p.latency_s for p in done],
                              [p.energy_j for p in done], title="Predicted cost per round")]
    # Per round: the SCA iterations and the exact objective of each phase (start, SCA-rounded, search).
    histories = {f"round {p.round}": {"sca_objective": p.solver.get("sca_objective") or [],
                                      "phases": p.solver.get("phases") or []}
                 for p in done if p.solver.get("sca_objective") or p.solver.get("phases")}
    if histories:
        files.append(plot_sca_history(out / "sca-objective.png", histories))
    return files


def print_plan_summary(done: list, scenario: Any, console: Any = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    # Below 100 columns the table drops its frame and the clock column (the round's start is in plan.json), so
    # every header stays whole at 80 columns.
    narrow = console.width < 100
    table = Table(title=f"Fed-Span plan: {scenario.num_satellites} satellites, {len(done)} round(s)",
                  **({"box": box.SIMPLE_HEAD, "padding": (0, 0), "show_edge": False} if narrow else {}))
    columns = ("round", "UTC", "trees", "depth", "latency s", "energy J", "bound", "from", "plan s", "status")
    for col in columns:
        if not (narrow and col == "UTC"):
            table.add_column(col, justify="right", no_wrap=col != "status")
    warnings: list[str] = []
    for p in done:
        bound = p.solver.get("bound")
        status = "fallback" if p.solver.get("fallback") else str(p.solver.get("status", "-"))
        notes = list(p.solver.get("warnings") or [])
        warnings.extend(f"round {p.round}: {w}" for w in notes)
        cells = [str(p.round), p.time_utc[11:19], str(len(p.roots)), str(p.max_depth), f"{p.latency_s:.3g}",
                 f"{p.energy_j:.3g}", "-" if bound is None else f"{bound:.3g}",
                 str(p.solver.get("source") or "-"), f"{p.solver.get('plan_time_s', 0.0):.1f}",
                 status + (" (!)" if notes else "")]
        table.add_row(*(c for col, c in zip(columns, cells) if not (narrow and col == "UTC")))
    console.print(table)
    for line in warnings:  # a phase that failed or was cut short is said, not hidden
        console.print(f"warning: {line}", markup=False, highlight=False)


def battery_floor(config: Any) -> float | None:
    """The run's depth-of-discharge floor (fraction of capacity) when one profile sets it for every satellite."""
    if getattr(config, "fleet", None) is not None:
        return None
    from fedspan.hardware import hardware_profile

    power = hardware_profile(config.hardware).power
    return None if power is None else 1.0 - power.max_depth_of_discharge


def columns(result: Any) -> dict[str, list[float]]:
    rows = result.metrics
    return {"sim_time_s": [m.time_s + m.latency_s for m in rows],
            "cumulative_energy_j": [m.cumulative_energy_j for m in rows],
            "test_accuracy": [m.test_accuracy for m in rows], "round": [m.round for m in rows],
            "latency_s": [m.latency_s for m in rows], "energy_j": [m.energy_j for m in rows]}


def run_figures(out: Path, results: dict[str, Any]) -> list[Path]:
    from fedspan.plots import plot_accuracy_curves, plot_round_costs, plot_sweep

    cols = {name: columns(r) for name, r in results.items() if r.metrics}
    if not cols:
        return []
    files = [plot_accuracy_curves(out / "accuracy.png", cols)]
    batteries = {name: {"sim_time_s": columns(r)["sim_time_s"], "min_soc": [m.min_state_of_charge for m in r.metrics],
                        "mean_soc": [m.mean_state_of_charge for m in r.metrics]}
                 for name, r in results.items() if r.metrics and math.isfinite(r.metrics[-1].min_state_of_charge)}
    if batteries:
        from fedspan.plots import plot_battery

        files.append(plot_battery(out / "battery.png", batteries, battery_floor(next(iter(results.values())).config)))
    if len(cols) == 1:
        (name, c), = cols.items()
        files.append(plot_round_costs(out / "round-costs.png", c["round"], c["latency_s"], c["energy_j"],
                                      title=f"{name}: cost per round"))
    else:
        from fedspan.plots import plot_cost_by_method
        from fedspan.ranking import rank_methods

        target, ranked = rank_methods({name: r.metrics for name, r in results.items()})
        winner = next((r["method"] for r in ranked if r["winner"]), None)
        files.append(plot_cost_by_method(
            out / "cost-by-method.png", [r["method"] for r in ranked],
            {f"time to target {target:.3f} [s]": [r["time_to_target_s"] for r in ranked],
             "mean round latency [s]": [r["mean_latency_s"] for r in ranked],
             "total energy [J]": [r["total_energy_j"] for r in ranked]},
            title="Cost by method (best first; ★ first to the target)", winner=winner))
    return files


def run_summaries(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One summary per method that ran at least one round (the printed table and summary.csv)."""
    return [{"method": name, "rounds": len(rows), "final_accuracy": rows[-1].test_accuracy,
             "simulated_time_s": rows[-1].time_s + rows[-1].latency_s,
             "mean_latency_s": sum(m.latency_s for m in rows) / len(rows),
             "total_energy_j": rows[-1].cumulative_energy_j, "fallbacks": sum(bool(m.fallback) for m in rows)}
            for name, rows in ((name, r.metrics) for name, r in results.items()) if rows]


def print_run_summary(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Results")
    for col in ("method", "rounds", "final accuracy", "simulated time s", "mean latency s", "total energy J",
                "fallbacks"):
        table.add_column(col, justify="right")
    for row in run_summaries(results):
        table.add_row(row["method"], str(row["rounds"]), f"{row['final_accuracy']:.3f}",
                      f"{row['simulated_time_s']:.1f}", f"{row['mean_latency_s']:.3g}",
                      f"{row['total_energy_j']:.4g}", str(row["fallbacks"]))
    Console().print(table)


def print_compare_summary(results: dict[str, Any]) -> list[str]:
    """The ranking of a comparison (time to target, then energy; ★ the winner), the knobs each method used and
    one line on where the leader's advantage comes from; returns that line and the target line for config.toml."""
    from rich.console import Console
    from rich.table import Table

    from fedspan.ranking import TARGET_FRACTION, advantage, rank_methods

    target, ranked = rank_methods({name: r.metrics for name, r in results.items()})
    if not ranked:
        return []
    console = Console()
    aim = f"target accuracy {target:.3f} = {TARGET_FRACTION:.0%} of the best final accuracy"
    table = Table(title=f"Ranking: time to target, then energy ({aim})", title_justify="left")
    for col in ("#", "method", "final acc", "to target s", "to target J", "rounds", "total J"):
        table.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for r in ranked:
        reached = r["rounds_to_target"] is not None
        table.add_row(f"{r['rank']}{' ★' if r['winner'] else ''}", r["method"], f"{r['final_accuracy']:.3f}",
                      f"{r['time_to_target_s']:.4g}" if reached else "not reached",
                      f"{r['energy_to_target_j']:.4g}" if reached else "-",
                      f"{r['rounds_to_target']}/{r['rounds']}" if reached else f"-/{r['rounds']}",
                      f"{r['total_energy_j']:.4g}")
    console.print(table)
    knobs = Table(title="Knobs each method used (means over its rounds and participants)", title_justify="left")
    for col in ("method", "steps", "batch", "clock GHz", "power W", "latency s", "fallbacks"):
        knobs.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for r in ranked:
        knobs.add_row(r["method"], f"{r['mean_local_steps']:.3g}", f"{r['mean_batch_size']:.3g}",
                      f"{r['mean_cpu_ghz']:.3g}", f"{r['mean_tx_power_w']:.3g}", f"{r['mean_latency_s']:.3g}",
                      str(r["fallbacks"]))
    console.print(knobs)
    why = advantage(ranked)
    if why:
        console.print(why, markup=False, highlight=False)
    return [f"{aim}; winner: {next((r['method'] for r in ranked if r['winner']), 'none')}"] + ([why] if why else [])


def knob_notes(results: dict[str, Any]) -> list[str]:
    """One comment line per method: the knobs it actually ran with (config.toml records the defaults only)."""
    from fedspan.ranking import method_summary

    lines = ["What each method actually ran with (means over rounds; local-steps and batch-size above are the "
             "defaults the baselines use and Fed-Span optimises):"]
    for name, r in results.items():
        if r.metrics:
            m = method_summary(name, r.metrics, float("inf"))
            lines.append(f"  {name}: local steps {m['mean_local_steps']:.4g}, batch {m['mean_batch_size']:.4g}, "
                         f"clock {m['mean_cpu_ghz']:.4g} GHz, transmit power {m['mean_tx_power_w']:.4g} W "
                         f"over {m['rounds']} round(s)")
    return lines


def write_comparison(out: Path, results: dict[str, Any]) -> list[Path]:
    """compare.csv (every method's rounds) and summary.csv (one ranked row per method, best first)."""
    import csv

    from fedspan.ranking import rank_methods

    rows_path, summary_path = out / "compare.csv", out / "summary.csv"
    with rows_path.open("w", newline="", encoding="utf-8") as f:
        writer = None
        for name, r in results.items():
            for m in r.metrics:
                row = {"method": name, **m.to_dict()}
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
    target, ranked = rank_methods({name: r.metrics for name, r in results.items()})
    with summary_path.open("w", newline="", encoding="utf-8") as f:
        # The columns summary.csv always had come first, in their order, so existing readers keep working.
        columns = ["method", "rounds", "final_accuracy", "simulated_time_s", "mean_latency_s", "total_energy_j",
                   "rank", "winner", "target_accuracy", "rounds_to_target", "time_to_target_s", "energy_to_target_j",
                   "mean_local_steps", "mean_batch_size", "mean_cpu_ghz", "mean_tx_power_w", "fallbacks"]
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([{**row, "target_accuracy": target}.get(c) for c in columns] for row in ranked)
    return [rows_path, summary_path]


def write_settings(out: Path, command: str, config: Any, extras: dict[str, Any] | None = None,
                   notes: list[str] | None = None) -> Path:
    """``config.toml``: the settings a command ran with, in the vocabulary every entry point reads; ``notes``
    are written as comments (what the run actually did)."""
    from fedspan.config import write_config

    return write_config(out / "config.toml", command, config, extras, notes or ())
