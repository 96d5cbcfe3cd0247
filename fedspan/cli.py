"""The `fedspan` command line: constellations, plans, training runs and comparisons.

Every command accepts ``--config FILE.toml`` (options from a file; the command line wins) and
``--debug`` (show the full traceback instead of a one-line error).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Optional

import click
import typer

from fedspan.config import read_config

app = typer.Typer(
    help="Fed-Span: federated learning over LEO satellite constellations with spanning-tree "
         "aggregation planned by geometric programming.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
constellation_app = typer.Typer(help="Generate and inspect constellations (TLE files).",
                                no_args_is_help=True)
app.add_typer(constellation_app, name="constellation")

_DEBUG = {"on": False}


def _load_config(ctx: click.Context, param: click.Parameter, value: Optional[Path]) -> Optional[Path]:
    """Eager callback: read the TOML file into the command's defaults before other options parse."""
    if value is None:
        return None
    known = {p.name for p in ctx.command.params if p.name and p.name not in {"config", "debug"}}
    try:
        options = read_config(value, ctx.command.name or "", known)
    except Exception as exc:  # surfaced as a usage error: one line, exit code 2
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    ctx.default_map = {**(ctx.default_map or {}), **options}
    return value


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    _DEBUG["on"] = _DEBUG["on"] or bool(value)
    return value


ConfigOption = typer.Option(None, "--config", help="Read options from a TOML file (command-line options win).",
                            is_eager=True, callback=_load_config, exists=False, dir_okay=False)
DebugOption = typer.Option(False, "--debug", help="Show full tracebacks on errors.", is_eager=True,
                           callback=_set_debug)


def _parse_time(value: Optional[str], option: str) -> Optional["datetime"]:
    """ISO-8601 UTC time of an option, or None; a bad value is a one-line usage error."""
    from datetime import datetime, timezone

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not an ISO-8601 time such as 2024-05-12T00:00:00Z",
                                 param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@constellation_app.command("walker")
def constellation_walker(
    output: Path = typer.Option(..., "-o", "--output", help="TLE file to write."),
    preset: Optional[str] = typer.Option(None, help="Preset: starlink-shell1, small, iridium, oneweb."),
    walker: Optional[str] = typer.Option(None, help="Walker-delta i:T/P/F, e.g. 53:1584/72/1 (with --altitude)."),
    altitude: Optional[float] = typer.Option(None, help="Altitude in km for --walker."),
    epoch: Optional[str] = typer.Option(None, help="TLE epoch, ISO-8601 UTC (default 2024-05-12T00:00Z)."),
    config: Optional[Path] = ConfigOption,
    debug: bool = DebugOption,
) -> None:
    """Write a Walker-delta constellation as a valid 3-line TLE file.

    Examples:
      fedspan constellation walker --preset starlink-shell1 -o starlink.tle
      fedspan constellation walker --walker 86.4:66/6/2 --altitude 780 -o iridium.tle
    """
    from orbits.tle import write_tle
    from orbits.walker import WALKER_PRESETS, WalkerSpec, walker_delta

    when = _parse_time(epoch, "--epoch")
    if (preset is None) == (walker is None):
        raise click.UsageError("give exactly one of --preset or --walker")
    if preset is not None:
        if preset not in WALKER_PRESETS:
            raise click.BadParameter(f"unknown preset '{preset}' (choose from {', '.join(sorted(WALKER_PRESETS))})",
                                     param_hint="--preset")
        spec = WALKER_PRESETS[preset]
    else:
        if altitude is None:
            raise click.UsageError("--walker needs --altitude (km)")
        spec = WalkerSpec.parse(walker, altitude)
    count = write_tle(output, walker_delta(spec, epoch=when))
    typer.echo(f"wrote {count} satellites ({spec.notation}, {spec.altitude_km:g} km) to {output}")


@constellation_app.command("info")
def constellation_info(
    constellation: str = typer.Argument(..., help="A TLE file or a preset name."),
    debug: bool = DebugOption,
) -> None:
    """Summarise a constellation: satellites, planes, epochs, altitudes, dropped satellites.

    Example:
      fedspan constellation info starlink.tle
    """
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from fedspan.scenario import load_constellation

    con = load_constellation(constellation)
    alt = con.propagate(con.epoch, [0.0]).altitudes_km()[0]
    incl = np.array([t.inclination_deg for t in con.tles])
    table = Table(title=f"{constellation}", show_header=False)
    table.add_row("satellites", str(len(con)))
    table.add_row("dropped (SGP4 fails at epoch)", str(len(con.dropped)))
    table.add_row("orbital planes (inferred)", str(len(np.unique(con.plane_ids))))
    table.add_row("latest epoch", con.epoch.isoformat())
    table.add_row("inclination (deg)", f"{incl.min():.1f} .. {incl.max():.1f}")
    table.add_row("altitude km (min / median / max)",
                  f"{np.nanmin(alt):.0f} / {np.nanmedian(alt):.0f} / {np.nanmax(alt):.0f}")
    Console().print(table)


def _error_types() -> tuple[type[BaseException], ...]:
    """The error types that are the user's to fix: printed as one line, never as a traceback."""
    from fedspan.errors import FedSpanError
    from optimization.errors import OptimizationError
    from orbits.errors import OrbitsError

    return (FedSpanError, OptimizationError, OrbitsError, OSError, ValueError)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the `fedspan` console script."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="fedspan", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("interrupted: completed rounds are saved in the output folder", file=sys.stderr)
        sys.exit(130)
    except _error_types() as exc:
        if _DEBUG["on"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
