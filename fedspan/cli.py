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
