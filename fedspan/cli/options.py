"""The options of plan, run and compare, generated from the vocabulary (``fedspan.config``), and their reading.

Every ``SimulationConfig`` field a command uses is an option of that command, named like the field
(``--num-trees``; old spellings such as ``--trees`` still accepted), typed, and checked at parse time
by the field's parser, so a bad value is a usage error (exit code 2) before anything runs. A value
comes from the command line, else from ``--config FILE.toml``, else from the command's default.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import MISSING
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer
from typer._click.core import ParameterSource

from fedspan.cli.errors import set_debug
from fedspan.config import (
    FIELDS,
    LINK_POLICY,
    PRESET,
    SCENARIO,
    Choice,
    field_type,
    key_name,
    parse_setting,
    read_config,
)

if TYPE_CHECKING:
    from fedspan.config import SimulationConfig

#: Options whose values come from a registry, by parameter name (their help lists the names).
CHOICES: dict[str, Choice] = {"preset": PRESET, "link_policy": LINK_POLICY}
#: Defaults that differ by command (the field's own default otherwise).
COMMAND_DEFAULTS: dict[str, dict[str, Any]] = {
    "plan": {"output_dir": "runs/plan"}, "run": {"output_dir": "runs/run"},
    "compare": {"output_dir": "runs/compare", "resume": False},
}
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)


def usage_parser(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse`` with its ValueError turned into a usage error (exit code 2, the option named)."""
    def parser(value: Any) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return parser


def _load_config(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """Eager callback: read the TOML file; its values apply where the command line gives none."""
    if value is not None:
        try:
            ctx.meta["config"] = read_config(value, ctx.command.name or "")
        except Exception as exc:  # surfaced as a usage error: one line, exit code 2
            raise typer.BadParameter(str(exc), ctx=ctx, param=param) from None
        ctx.meta["config_path"] = value
    return value


ConfigOption = typer.Option(None, "--config", help="Read settings from a TOML file (command-line options win); "
                            "any config.toml a command wrote is accepted.", is_eager=True, callback=_load_config,
                            exists=False, dir_okay=False)
DebugOption = typer.Option(False, "--debug", help="Show full tracebacks on errors.", is_eager=True,
                           callback=set_debug)


def _field_option(name: str, command: str) -> tuple[Any, Any]:
    """(annotation, typer.Option) of the field ``name`` for ``command``."""
    f = FIELDS[name]
    md = f.metadata
    default = COMMAND_DEFAULTS[command].get(name, f.default)
    flag = key_name(name)
    kw: dict[str, Any] = {"help": md["help"], "rich_help_panel": md["panel"], **md["option"]}
    if isinstance(default, bool):
        return bool, typer.Option(default, f"--{flag}/--no-{flag}", **kw)
    decls = [f"--{flag}", *(f"--{key_name(a)}" for a in md["aliases"]), *md["flags"]]
    shown = None if default is MISSING or default is None else default
    if isinstance(shown, tuple):
        shown = ",".join(f"{v:g}" for v in shown)
    if shown is not None:
        kw["help"] += f" [default: {shown}]"
    if not isinstance(md["parse"], Choice):  # a choice's label lists the registry's names (fedspan.cli.app)
        kw["metavar"] = md["metavar"] or f"<{field_type(f).__name__}>"
    if md["parse"] is None:
        kind = field_type(f)
        return Optional[kind], typer.Option(None, *decls, **kw)
    if isinstance(md["parse"], Choice):
        CHOICES[name] = md["parse"]
    multiple = f.default_factory is dict  # key=value, repeatable
    return (Optional[list[str]] if multiple else Optional[Any]), typer.Option(None, *decls, parser=usage_parser(
        md["parse"]), **kw)


def vocabulary(command: str, *, preset: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the options of every field it uses, plus ``--preset``, ``--config`` and ``--debug``.

    typer reads the options from the signature; the body reads them through :func:`settings`.
    """
    def decorate(body: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(body)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        taken = {p.name for p in own}
        shared: list[tuple[str, Any, Any]] = [
            (name, *_field_option(name, command)) for name, f in FIELDS.items()
            if command not in f.metadata["ignored_by"] and name not in taken]
        if preset:
            shared.append(("preset", Optional[str], typer.Option(
                None, "--preset", help="Walker preset (instead of --constellation; default: small).",
                rich_help_panel=SCENARIO, parser=usage_parser(PRESET))))
        shared += [("config", Optional[Path], ConfigOption), ("debug", bool, DebugOption)]
        params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
                  for name, kind, option in shared]

        @functools.wraps(body)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            body(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=own + params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**body.__annotations__, **{n: k for n, k, _ in shared}}
        return wrapper
    return decorate


def given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (not a default)."""
    return name in ctx.params and ctx.get_parameter_source(name) in _GIVEN


def from_file(ctx: typer.Context, name: str, parse: Callable[[Any], Any] | None = None) -> Any:
    """The config file's value of ``name`` parsed (None when the file has none); a bad one is a usage error."""
    options = ctx.meta.get("config", {})
    if name not in options:
        return None
    try:
        return (parse or functools.partial(parse_setting, name))(options[name])
    except ValueError as exc:
        raise typer.BadParameter(f"{ctx.meta['config_path']}: {key_name(name)}: {exc}",
                                 param_hint="--config") from None


def settings(ctx: typer.Context, command: str) -> dict[str, Any]:
    """The field values of a command: command line, else the config file, else the command's default."""
    values: dict[str, Any] = {}
    for name, f in FIELDS.items():
        if command in f.metadata["ignored_by"]:
            continue
        if given(ctx, name):
            value = ctx.params[name]
            values[name] = {k: v for d in value for k, v in d.items()} if f.default_factory is dict else value
        elif name in ctx.meta.get("config", {}):
            values[name] = from_file(ctx, name)
        elif name in COMMAND_DEFAULTS[command]:
            values[name] = COMMAND_DEFAULTS[command][name]
    preset = ctx.params.get("preset") if given(ctx, "preset") else None
    if preset is not None and given(ctx, "constellation"):
        raise typer.BadParameter("give --constellation or --preset, not both")
    if preset is None and "constellation" not in values:
        preset = from_file(ctx, "preset", usage_parser(PRESET))
    if preset is not None:
        values["constellation"] = preset
    return values


def simulation_config(ctx: typer.Context, command: str, **overrides: Any) -> "SimulationConfig":
    """The checked SimulationConfig of a command; bad policy options fail here, before anything is written."""
    from fedspan.simulation import SimulationConfig, make_policy

    config = SimulationConfig(**{**settings(ctx, command), **overrides})
    config.validate()
    make_policy(config)
    return config


def parse_time_option(value: Optional[str], option: str) -> Any:
    """An ISO-8601 UTC time of a constellation command's option, or None; a bad value is a usage error."""
    from fedspan.config import parse_time

    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def status(message: str) -> Any:
    """A spinner on stderr while something slow loads."""
    from rich.console import Console
    from rich.markup import escape

    return Console(stderr=True).status(escape(message))
