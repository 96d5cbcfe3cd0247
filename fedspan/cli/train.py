"""`fedspan run` and `fedspan compare`: federated learning over the constellation, one policy or several."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import typer

from fedspan.cli.app import Command, app
from fedspan.cli.options import CHOICES, from_file, given, simulation_config, usage_parser, vocabulary
from fedspan.cli.outputs import (finishing, knob_notes, print_compare_summary, print_run_summary, run_figures,
                                 write_comparison, write_outputs_note, write_settings)
from fedspan.config import STRATEGY


@app.command("run", cls=Command)
@vocabulary("run")
def run_command(
    ctx: typer.Context,
    plan: Optional[Path] = typer.Option(None, "--plan", help="Replay a plan.json from `fedspan plan` "
                                        "(strategy replay).", rich_help_panel="Options"),
    **settings: Any,
) -> None:
    """Plan + train: federated learning over the constellation, with per-round metrics.

    Writes metrics.csv / metrics.json (simulated time, latency, energy, accuracy, loss per round),
    a checkpoint after every round (Ctrl-C keeps completed rounds; run again to resume),
    config.toml and PNGs (accuracy curves, per-round costs).

    Examples:
      fedspan run --preset small --rounds 10
      fedspan run --constellation starlink.tle --dataset mnist --data-root data/mnist --num-trees 4
      fedspan run --plan runs/plan/plan.json --rounds 5
    """
    plan_file = plan if given(ctx, "plan") else from_file(ctx, "plan", str)
    overrides = {"strategy": "replay", "strategy_options": {"plan_file": str(plan_file)}} if plan_file else {}
    sim = simulation_config(ctx, "run", **overrides)
    out = Path(sim.output_dir or "runs/run")
    files: list[Path] = []

    def on_start(first_round: int) -> None:  # the folder is locked and its checkpoint accepted
        files.append(write_settings(out, "run", sim))

    result = run_with_progress(sim, f"{sim.strategy} on {sim.constellation}", on_start)

    def finish() -> None:
        files.extend(result.output_files + run_figures(out, {sim.strategy: result}))
        print_run_summary({sim.strategy: result})
        write_outputs_note(files)

    finishing(f"all {len(result.metrics)} round(s) are kept in {out} (checkpoint.pt, metrics.csv, metrics.json)",
              finish)


def parse_strategies(value: Any) -> list[str]:
    """``all``, ``"mst,bfs"`` or a list: registered policies (replay needs a plan, so it is not among 'all')."""
    known = [n for n in STRATEGY.names() if n != "replay"]
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names = [str(n).strip() for n in items if str(n).strip()]
    if names == ["all"]:
        return known
    unknown = [n for n in names if n not in known and not (n.startswith("flower:") and STRATEGY.accept(n))]
    if unknown or not names:
        raise ValueError(f"unknown strateg{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                         f"(choose from all or {', '.join(known)})")
    return names


CHOICES["strategies"] = STRATEGY


@app.command("compare", cls=Command)
@vocabulary("compare")
def compare_command(
    ctx: typer.Context,
    strategies: Optional[Any] = typer.Option(None, "--strategies", help="Comma-separated policies, or all.",
                                             show_default="all", parser=usage_parser(parse_strategies),
                                             rich_help_panel="Options"),
    **settings: Any,
) -> None:
    """Fed-Span against the baselines on the same scenario, clock, energy ledger and data.

    Writes compare.csv (one row per method and round), summary.csv (one row per method),
    each method's metrics in a sub-folder, config.toml and PNGs (accuracy vs simulated time and
    vs energy, cost by method).

    Examples:
      fedspan compare --preset small --rounds 10
      fedspan compare --strategies fedspan,mst,star,gossip --partition dirichlet --alpha 0.3
    """
    from dataclasses import replace

    from fedspan.runlock import lock_output_folder

    names = strategies if given(ctx, "strategies") else from_file(ctx, "strategies", parse_strategies)
    names = names or parse_strategies("all")
    base = simulation_config(ctx, "compare", strategy=names[0])
    out = Path(base.output_dir or "runs/compare")
    sims = {name: simulation_config(ctx, "compare", strategy=name, output_dir=str(out / name)) for name in names}
    with lock_output_folder(out, "fedspan compare"):
        files = [write_settings(out, "compare", replace(base, output_dir=str(out)), {"strategies": names})]
        results: dict[str, Any] = {}
        for name, sim in sims.items():
            results[name] = run_with_progress(sim, f"{name:>12}")

        def finish() -> None:
            files.extend(write_comparison(out, results) + run_figures(out, results))
            verdict = print_compare_summary(results)
            # The echo records what each method ran with: the defaults above, and the knobs it actually used.
            notes = knob_notes(results) + verdict
            write_settings(out, "compare", replace(base, output_dir=str(out)), {"strategies": names}, notes)
            for name, sim in sims.items():
                if results[name].metrics:
                    files.append(write_settings(Path(sim.output_dir), "run", sim,
                                                notes=knob_notes({name: results[name]})))
            write_outputs_note(files)

        finishing(f"every policy's rounds are kept in {out}/<policy> (checkpoint.pt, metrics.csv)", finish)


def run_with_progress(sim: Any, label: str, on_start: Optional[Callable[[int], None]] = None) -> Any:
    """run_simulation with a progress bar (log lines when piped); Ctrl-C/SIGTERM say what was kept."""
    from fedspan.interrupts import exit_code, what
    from fedspan.progress import ProgressReporter
    from fedspan.simulation import run_simulation

    done = {"rounds": 0, "started": False}
    with ProgressReporter(label, sim.rounds) as bar:

        def started(first_round: int) -> None:
            done.update(rounds=first_round, started=True)
            bar.advance(first_round, f"resumed after round {first_round - 1}" if first_round else "")
            bar.working(f"round {first_round}")
            if on_start is not None:
                on_start(first_round)

        def progress(count: int, total: int, m: Any) -> None:
            done["rounds"] = count
            if m.faults:  # said where the reader looks, not only in metrics.csv
                bar.note(f"round {m.round}: {m.faults} (latency {m.fault_extra_latency_s:+.3g} s, energy "
                         f"+{m.fault_extra_energy_j:.3g} J spent, {m.fault_saved_energy_j:.3g} J not spent)")
            bar.advance(count, f"acc {m.test_accuracy:.3f}, t = {m.time_s:.0f} s")
            stop = sim.stop_at_accuracy
            if stop is not None and count < total and m.test_accuracy >= stop:
                bar.note(f"round {m.round}: test accuracy {m.test_accuracy:.4g} reached --stop-at-accuracy {stop:g}; "
                         f"the run stops here ({count} of {total} rounds)")
            elif count < total:
                bar.working(f"round {count}")

        try:
            return run_simulation(sim, progress=progress, on_start=started)
        except KeyboardInterrupt as exc:
            bar.stop()
            out = sim.output_dir
            kept = (f"{done['rounds']} completed round(s) of {sim.rounds} kept in {out} (checkpoint.pt, "
                    f"metrics.csv); run the same command again to resume") if done["started"] and out else \
                "nothing was written"
            typer.echo(f"{what(exc)}: {kept}", err=True)
            raise typer.Exit(exit_code(exc)) from None
