"""`fedspan plan`: the optimizer's forest and resources for every round, written to plan.json."""

from __future__ import annotations

from typing import Any

import typer

from fedspan.cli.app import Command, app
from fedspan.cli.options import simulation_config, status, vocabulary
from fedspan.cli.outputs import finishing, plan_figures, print_plan_summary, write_outputs_note, write_settings


@app.command("plan", cls=Command)
@vocabulary("plan")
def plan_command(ctx: typer.Context, **settings: Any) -> None:
    """Plan every round: ISL graphs over the horizon and the optimizer's forest + resources.

    Writes plan.json (per round: time, parent of each satellite, roots, f/P/e/B, predicted latency,
    energy, solver stats; its options are the settings, typed; schema: fedspan/schemas/plan.schema.json),
    config.toml, and PNGs (forest map, per-round costs, SCA objective).

    Examples:
      fedspan plan --preset small --rounds 5
      fedspan plan --constellation starlink.tle --rounds 3 --num-trees auto --weights 1,1,0.5 -o runs/starlink
    """
    from pathlib import Path

    from fedspan.config import ignored_keys
    from fedspan.horizon import PlannedRound, PlanWriter, plan_horizon
    from fedspan.interrupts import exit_code, what
    from fedspan.progress import ProgressReporter
    from fedspan.runlock import lock_output_folder
    from fedspan.simulation import build_scenario, make_policy, plan_sample_weights

    sim = simulation_config(ctx, "plan")
    out = Path(sim.output_dir or "runs/plan")
    with status(f"loading {sim.constellation} and the {sim.dataset} model size"):
        scenario, bits = build_scenario(sim)
        weights_n = plan_sample_weights(sim, scenario.num_satellites)
        policy = make_policy(sim)
    ignored = {k.replace("-", "_") for k in ignored_keys("plan")}
    options = {k: v for k, v in {**sim.to_dict(), "model_bits": bits}.items() if k not in ignored}
    with lock_output_folder(out, "fedspan plan"):
        done: list[PlannedRound] = []
        writer = PlanWriter(out / "plan.json", scenario, options)
        config_path = write_settings(out, "plan", sim)
        with ProgressReporter(f"planning {scenario.num_satellites} satellites", sim.rounds) as bar:

            def on_round(record: PlannedRound) -> None:
                done.append(record)
                writer.update(done)  # rewritten at most ~10% of the time: linear in the rounds, not quadratic
                bar.advance(len(done), f"round {record.round}: {record.latency_s:.3g} s, {record.energy_j:.3g} J")
                if len(done) < sim.rounds:
                    bar.working(_planning_what(len(done), scenario.num_satellites))

            if hasattr(policy, "progress"):  # the planner says which phase it is in (minutes at 50,000)
                policy.progress = lambda phase: bar.working(
                    f"{_planning_what(len(done), scenario.num_satellites)}: {phase}")
            try:
                bar.working(_planning_what(0, scenario.num_satellites))
                plan_horizon(scenario, policy, sim.rounds, sim.round_interval_s, weights_n,
                             local_steps=sim.local_steps, batch_size=sim.batch_size, mix_every=sim.mix_every,
                             seed=sim.seed, on_round=on_round, schedule=sim.schedule)
            except KeyboardInterrupt as exc:
                bar.stop()
                writer.flush(done)
                typer.echo(f"{what(exc)}: {len(done)} planned round(s) of {sim.rounds} saved in {writer.path}",
                           err=True)
                raise typer.Exit(exit_code(exc)) from None
        plan_path = writer.flush(done)

    def finish() -> None:
        files = [plan_path, config_path, *plan_figures(out, scenario, done)]
        print_plan_summary(done, scenario)
        write_outputs_note(files)

    finishing(f"all {len(done)} planned round(s) are saved in {plan_path}", finish)


def _planning_what(round_index: int, satellites: int) -> str:
    """What planning round ``round_index`` involves (the planner adds its phase as it goes)."""
    return f"planning round {round_index} ({satellites} satellites)"
