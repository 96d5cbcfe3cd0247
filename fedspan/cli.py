"""The `fedspan` command line: constellations, plans, training runs and comparisons.

Every command accepts ``--config FILE.toml`` (options from a file; the command line wins) and
``--debug`` (show the full traceback instead of a one-line error).
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer

from fedspan.config import read_config

if TYPE_CHECKING:  # imported lazily at run time: `fedspan --help` must not load torch or CVXPY
    from datetime import datetime

    from rich.progress import Progress

    from fedspan.simulation import SimulationConfig

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


def _print_version(value: bool) -> None:
    """Eager `--version`: print the package version and stop."""
    if value:
        from fedspan import __version__

        typer.echo(f"fedspan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """Fed-Span: federated learning over LEO satellite constellations."""

_DEBUG = {"on": False}


def _load_config(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """Eager callback: read the TOML file into the command's defaults before other options parse."""
    if value is None:
        return None
    known = {p.name for p in ctx.command.params if p.name and p.name not in {"config", "debug"}}
    try:
        options = read_config(value, ctx.command.name or "", known)
    except Exception as exc:  # surfaced as a usage error: one line, exit code 2
        raise typer.BadParameter(str(exc), ctx=ctx, param=param) from None
    if isinstance(options.get("faults"), list):
        ctx.meta["faults"] = options.pop("faults")  # a list of tables has no single-option form
    ctx.default_map = {**(ctx.default_map or {}), **options}
    return value


def _set_debug(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> bool:
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
        raise typer.BadParameter(f"'{value}' is not an ISO-8601 time such as 2024-05-12T00:00:00Z",
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
    from orbits.walker import WalkerSpec, walker_delta, write_preset
    from orbits.walker import preset as preset_spec

    when = _parse_time(epoch, "--epoch")
    if (preset is None) == (walker is None):
        raise typer.BadParameter("give exactly one of --preset or --walker")
    if preset is not None:
        spec = preset_spec(_preset(preset))
        count = write_preset(preset, output, epoch=when)
    else:
        if altitude is None:
            raise typer.BadParameter("--walker needs --altitude (km)")
        spec = WalkerSpec.parse(walker, altitude)
        count = write_tle(output, walker_delta(spec, epoch=when))
    typer.echo(f"wrote {count} satellites ({spec.notation}, {spec.altitude_km:g} km) to {output}")


@constellation_app.command("info")
def constellation_info(
    constellation: str = typer.Argument(..., help="A TLE file or a preset name."),
    skip_bad_tles: bool = typer.Option(False, help="Drop malformed TLE records instead of stopping."),
    debug: bool = DebugOption,
) -> None:
    """Summarise a constellation: satellites, planes, epochs, altitudes, dropped satellites.

    Example:
      fedspan constellation info starlink.tle
    """
    import numpy as np
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from fedspan.scenario import load_constellation

    con = load_constellation(constellation, skip_bad_tles)
    alt = con.propagate(con.epoch, [0.0]).altitudes_km()[0]
    incl = np.array([t.inclination_deg for t in con.tles])
    table = Table(title=escape(constellation), show_header=False)
    table.add_row("satellites", str(len(con)))
    table.add_row("dropped (SGP4 fails at epoch)", str(len(con.dropped)))
    table.add_row("orbital planes (inferred)", str(len(np.unique(con.plane_ids))))
    table.add_row("latest epoch", con.epoch.isoformat())
    table.add_row("inclination (deg)", f"{incl.min():.1f} .. {incl.max():.1f}")
    table.add_row("altitude km (min / median / max)",
                  f"{np.nanmin(alt):.0f} / {np.nanmedian(alt):.0f} / {np.nanmax(alt):.0f}")
    Console().print(table)


_EXPORT_FORMATS = ("satgenpy",)


@constellation_app.command("export")
def constellation_export(
    out_dir: Path = typer.Argument(..., help="Folder to write the files into (created if missing)."),
    export_format: str = typer.Option(..., "--format", help="Export format: satgenpy (Hypatia)."),
    constellation: Optional[str] = typer.Option(None, "--constellation", "-c",
                                                help="TLE file or preset name (default: the small preset)."),
    preset: Optional[str] = typer.Option(None, help="Preset: starlink-shell1, small, iridium, oneweb."),
    ground_stations: Optional[Path] = typer.Option(
        None, "--ground-stations", help="CSV of ground stations (name,lat,lon[,alt_km,min_elev_deg]); default none."),
    link_policy: str = typer.Option("knn", "--link-policy", help="ISLs: knn (k nearest feasible) or grid (+Grid)."),
    neighbors: int = typer.Option(8, "--neighbors", help="k of the knn link policy.", min=1),
    start: Optional[str] = typer.Option(None, "--start", help="Time of the exported ISL graph, ISO-8601 UTC "
                                        "(default: the newest TLE epoch)."),
    name: str = typer.Option("Fedspan", "--name", help="Satellite name prefix in tles.txt ('<name> <id>')."),
    skip_bad_tles: bool = typer.Option(False, help="Drop malformed TLE records instead of stopping."),
    debug: bool = DebugOption,
) -> None:
    """Export a constellation, its ISLs and ground stations for another simulator.

    satgenpy (Hypatia): tles.txt, isls.txt (ISLs at --start, each once as 'a b', a < b), ground_stations.txt (8 fields).

    Example:
      fedspan constellation export --format satgenpy --preset small --link-policy grid hypatia/small
    """
    from orbits.ground import read_ground_stations
    from orbits.hypatia import export_satgenpy
    from orbits.isl import POLICIES, snapshots

    from fedspan.scenario import load_constellation

    if export_format not in _EXPORT_FORMATS:
        raise typer.BadParameter(f"unknown format '{export_format}' (choose from {', '.join(_EXPORT_FORMATS)})",
                                 param_hint="--format")
    if link_policy not in POLICIES:
        raise typer.BadParameter(f"unknown link policy '{link_policy}' (choose from {', '.join(POLICIES)})",
                                 param_hint="--link-policy")
    when = _parse_time(start, "--start")
    source = _scenario_options(constellation, preset)
    stations = read_ground_stations(ground_stations) if ground_stations is not None else []
    con = load_constellation(source, skip_bad_tles)
    snap = next(snapshots(con, when, [0.0], policy=link_policy, k=neighbors))
    files = export_satgenpy(out_dir, con, snap.edges, stations, name=name)
    isls = sum(1 for _ in files[1].open(encoding="utf-8"))
    typer.echo(f"wrote {len(con)} satellites, {isls} ISLs ({link_policy}) and {len(stations)} ground stations "
               f"for satgenpy to {out_dir}")


# Options shared by plan, run and compare. Their names are the SimulationConfig fields (dashes for
# underscores), except the short aliases the docs use; one TOML file therefore serves all three.
_SCENARIO_HELP = "Scenario"
_LEARNING_HELP = "Learning"


def _preset(name: str) -> str:
    """``name`` if it is a Walker preset, else a usage error listing them (``orbits.walker.preset``)."""
    from orbits.errors import OrbitsError
    from orbits.walker import WALKER_PRESETS, preset

    try:
        preset(name)
    except OrbitsError:
        raise typer.BadParameter(f"unknown preset '{name}' (choose from {', '.join(sorted(WALKER_PRESETS))})",
                                 param_hint="--preset") from None
    return name


def _scenario_options(constellation: Optional[str], preset: Optional[str]) -> str:
    """The constellation source: a TLE file or a preset name (default: the bundled small shell)."""
    from orbits.walker import WALKER_PRESETS

    if constellation and preset:
        raise typer.BadParameter("give --constellation or --preset, not both")
    if preset is not None:
        return _preset(preset)
    if constellation is None:
        return "small"
    if constellation not in WALKER_PRESETS and Path(constellation).is_dir():
        raise typer.BadParameter(f"{constellation} is a directory, not a TLE file", param_hint="--constellation")
    if constellation not in WALKER_PRESETS and not Path(constellation).is_file():
        raise typer.BadParameter(f"no such TLE file: {constellation}", param_hint="--constellation")
    return constellation


def _finite_positive(value: Any, option: str, unit: str) -> float:
    """A finite number > 0 for a link-budget or payload option; anything else is a one-line usage error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise typer.BadParameter(f"'{value}' is not a finite number > 0 ({unit})", param_hint=option)
    return number


def _parse_weights(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(v < 0 for v in values) or not any(v > 0 for v in values):
        raise typer.BadParameter(f"'{text}' is not three non-negative numbers loss,energy,latency (e.g. 1,1,1)",
                                 param_hint="--weights")
    return values  # type: ignore[return-value]


def _parse_trees(text: str) -> int | str:
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise typer.BadParameter(f"'{text}' is not a number of trees >= 1 or 'auto'", param_hint="--trees")
    return k


def _parse_faults(text: Optional[str], ctx: typer.Context) -> list[dict[str, Any]]:
    """A fault schedule: from the config file (``[[faults]]`` tables) or a JSON file/string."""
    import json

    if text is None:
        return list(ctx.meta.get("faults", []))
    source = text
    looks_inline = text.lstrip().startswith(("[", "{"))  # inline JSON may be longer than any file name
    if looks_inline and len(text) < 4096:  # ... but a short "[...]" may also be a file name
        try:
            looks_inline = not Path(text).is_file()
        except OSError:
            pass
    if not looks_inline:
        try:
            source = Path(text).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise typer.BadParameter(f"{text}: not a UTF-8 text file ({exc.reason} at byte {exc.start})",
                                     param_hint="--faults") from None
        except OSError as exc:
            raise typer.BadParameter(f"{text}: neither a JSON list of faults nor a readable file "
                                     f"({exc.strerror or exc})", param_hint="--faults") from None
    try:
        faults = json.loads(source)
    except json.JSONDecodeError as exc:
        where = "" if source is text else f"{text}: "
        raise typer.BadParameter(f"{where}not a JSON list of faults: {exc}", param_hint="--faults") from None
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise typer.BadParameter("expected a JSON list of objects such as "
                                 '[{"round": 2, "kind": "satellite", "satellite": 5}]', param_hint="--faults")
    return faults


def _parse_strategy_options(items: Optional[list[str]]) -> dict[str, Any]:
    """``key=value`` pairs with int, float, bool or string values."""
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"'{item}' is not key=value", param_hint="--strategy-option")
        value: Any = text.strip()
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            value = value.lower() == "true"
        options[key.strip()] = value
    return options


def _simulation_config(opts: dict[str, Any], ctx: typer.Context, **overrides: Any) -> "SimulationConfig":
    """SimulationConfig from the command's options."""
    from fedspan.simulation import SimulationConfig

    fields = {
        "constellation": _scenario_options(opts.get("constellation"), opts.get("preset")),
        "rounds": opts["rounds"], "round_interval_s": opts["round_interval"],
        "start": _parse_time(opts.get("start"), "--start"), "num_trees": _parse_trees(opts["trees"]),
        "weights": _parse_weights(opts["weights"]), "terminals": opts["terminals"],
        "link_policy": opts["link_policy"], "neighbors": opts["neighbors"],
        "ground_stations": str(opts["ground_stations"]) if opts.get("ground_stations") else None,
        "roots_see_ground": opts["roots_see_ground"], "skip_bad_tles": opts["skip_bad_tles"], "seed": opts["seed"],
        "dataset": opts["dataset"], "data_root": str(opts["data_root"]) if opts.get("data_root") else None,
        "max_train": opts.get("max_train"), "max_test": opts.get("max_test"),
        "partition": opts.get("partition", "iid"), "alpha": opts.get("alpha", 0.5), "model": opts["model"],
        "lr": opts.get("lr", 0.05), "local_steps": opts["local_steps"], "batch_size": opts["batch_size"],
        "mix_every": opts["mix_every"], "smoothness": opts["smoothness"],
        "strategy_options": _parse_strategy_options(opts.get("strategy_option")),
        "rate_cap_bps": _finite_positive(opts.get("rate_cap", 10e9), "--rate-cap", "bit/s"),
        "tx_power_w": _finite_positive(opts.get("tx_power", 2.0), "--tx-power", "W"),
        "aperture_m": _finite_positive(opts.get("aperture", 0.10), "--aperture", "m"),
        "model_bits": (None if opts.get("model_bits") is None
                       else _finite_positive(opts["model_bits"], "--model-bits", "bits")),
    }
    if opts.get("ground_stations") and not Path(opts["ground_stations"]).is_file():
        raise typer.BadParameter(f"no such file: {opts['ground_stations']}", param_hint="--ground-stations")
    fields.update(overrides)
    config = SimulationConfig(**fields)
    config.validate()
    _make_policy(config)  # bad policy options fail here, before anything is loaded or written
    return config


def _progress() -> "Progress":
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[status]}"), transient=False)


def _out_dir(value: Any) -> Path:
    """An output folder option: refuses "" (which would silently mean the current folder)."""
    if isinstance(value, Path):
        return value
    if not str(value).strip():
        raise typer.BadParameter("must not be empty (write . for the current folder)", param_hint="--out")
    return Path(value)


def _seed(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> int:
    """--seed as an integer in [0, 2**63), named in the error when it is not one."""
    text = str(value).strip()
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0 or seed >= 2**63:
        raise typer.BadParameter(f"'{text}' is not an integer seed in 0 .. 2**63-1", param_hint="--seed")
    return seed


def _finite(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Reject inf and nan for options that are a number of seconds or a rate."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number", param_hint=f"--{param.name.replace('_', '-')}")
    return value


# --- option declarations (reused by plan, run, compare) ---------------------------------------
def _opt(default: Any, *names: str, help: str, panel: str = _SCENARIO_HELP, **kw: Any) -> Any:
    return typer.Option(default, *names, help=help, rich_help_panel=panel, **kw)


ConstellationOpt = _opt(None, "--constellation", "-c", help="TLE file (2- or 3-line, e.g. from CelesTrak) or preset name.")
PresetOpt = _opt(None, "--preset", help="Walker preset: small (default), starlink-shell1, iridium, oneweb.")
StartOpt = _opt(None, "--start", help="Start time, ISO-8601 UTC (default: the newest TLE epoch).")
RoundsOpt = _opt(10, "--rounds", help="Number of rounds.", min=1)
IntervalOpt = _opt(600.0, "--round-interval", help="Seconds between round starts.", min=1e-3, callback=_finite)
TreesOpt = _opt("1", "--trees", help="Trees K of the spanning forest, or 'auto' (the planner picks K).")
WeightsOpt = _opt("1,0.1,0.1", "--weights", help="Objective weights loss,energy,latency, each term normalised by "
                  "the distance-MST round with default resources (default: learning first).")
TerminalsOpt = _opt(4, "--terminals", help="Laser terminals per satellite (tree degree limit).", min=1)
RateCapOpt = _opt(10e9, "--rate-cap", help="Laser terminal rate cap in bit/s (default 1e10).")
TxPowerOpt = _opt(2.0, "--tx-power", help="Maximum laser transmit power per terminal in W.")
ApertureOpt = _opt(0.10, "--aperture", help="Laser telescope diameter of both terminals in m.")
ModelBitsOpt = _opt(None, "--model-bits", help="Bits sent per model transfer, for planning and the simulated "
                    "clock (e.g. 1e9 for a 1 Gbit model; default: the size of --model, which is what is trained).")
PolicyOpt = _opt("knn", "--link-policy", help="Candidate ISLs: knn (k nearest feasible) or grid (+Grid).")
NeighborsOpt = _opt(8, "--neighbors", help="k of the knn link policy.", min=1)
GroundOpt = _opt(None, "--ground-stations", help="CSV of ground stations (name,lat,lon[,alt_km,min_elev_deg]).")
RootsGroundOpt = _opt(False, "--roots-see-ground", help="Roots must see a ground station.")
SkipBadOpt = _opt(False, "--skip-bad-tles", help="Drop malformed TLE records (counted in a warning) instead of "
                  "stopping at the first one.")
SeedOpt = _opt("0", "--seed", help="Random seed, 0 .. 2**63-1 (data split, initial model, mini-batches).",
              callback=_seed)
DatasetOpt = _opt("digits", "--dataset", help="digits (bundled), mnist, fashion-mnist, satimage, eurosat, cifar10.",
                  panel=_LEARNING_HELP)
DataRootOpt = _opt(None, "--data-root", help="Folder/file of a downloaded dataset.", panel=_LEARNING_HELP)
MaxTrainOpt = _opt(None, "--max-train", help="Use at most this many training samples.", panel=_LEARNING_HELP, min=1)
MaxTestOpt = _opt(None, "--max-test", help="Use at most this many test samples.", panel=_LEARNING_HELP, min=1)
PartitionOpt = _opt("iid", "--partition", help="iid, dirichlet or regional (time-varying data).", panel=_LEARNING_HELP)
AlphaOpt = _opt(0.5, "--alpha", help="Dirichlet concentration (dirichlet, regional).", panel=_LEARNING_HELP, min=1e-6)
ModelOpt = _opt("mlp", "--model", help="mlp or cnn.", panel=_LEARNING_HELP)
LrOpt = _opt(0.05, "--lr", help="Local SGD learning rate.", panel=_LEARNING_HELP, min=1e-9)
StepsOpt = _opt(5, "--local-steps", help="Default local steps e (Fed-Span optimises it).", panel=_LEARNING_HELP, min=1)
BatchOpt = _opt(32, "--batch-size", help="Default mini-batch B (Fed-Span optimises it).", panel=_LEARNING_HELP, min=1)
MixOpt = _opt(1, "--mix-every", help="Mix cluster models every this many rounds (K > 1; 0: never).",
              panel=_LEARNING_HELP, min=0)
SmoothOpt = _opt(0.1, "--smoothness", help="Smoothness beta of the loss in the convergence bound (with --lr it "
                 "caps the planner's local steps: e <= 1/(8 beta lr)).", panel=_LEARNING_HELP, min=1e-9)
StrategyOptOpt = typer.Option(None, "--strategy-option", help="Policy option key=value, repeatable. fedspan "
                              "takes num_trees, mix_every, sca_iters (SCA iterations) and search_time_s (seconds "
                              "of local search per round; default 1 s + 1 s per 1000 satellites, at most 20 s).")


# (name, type, option) of every option plan, run and compare share, declared once.
_SHARED_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("constellation", Optional[str], ConstellationOpt), ("preset", Optional[str], PresetOpt),
    ("start", Optional[str], StartOpt), ("rounds", int, RoundsOpt), ("round_interval", float, IntervalOpt),
    ("trees", str, TreesOpt), ("weights", str, WeightsOpt), ("terminals", int, TerminalsOpt),
    ("link_policy", str, PolicyOpt), ("neighbors", int, NeighborsOpt), ("ground_stations", Optional[Path], GroundOpt),
    ("roots_see_ground", bool, RootsGroundOpt), ("skip_bad_tles", bool, SkipBadOpt), ("seed", str, SeedOpt),
    ("dataset", str, DatasetOpt), ("data_root", Optional[Path], DataRootOpt), ("max_train", Optional[int], MaxTrainOpt),
    ("max_test", Optional[int], MaxTestOpt), ("partition", str, PartitionOpt), ("alpha", float, AlphaOpt),
    ("model", str, ModelOpt), ("lr", float, LrOpt), ("local_steps", int, StepsOpt), ("batch_size", int, BatchOpt),
    ("mix_every", int, MixOpt), ("smoothness", float, SmoothOpt),
    ("rate_cap", float, RateCapOpt), ("tx_power", float, TxPowerOpt), ("aperture", float, ApertureOpt),
    ("model_bits", Optional[float], ModelBitsOpt),
    ("config", Optional[Path], ConfigOption), ("debug", bool, DebugOption),
)


def _with_shared_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the shared options: typer reads them from the signature, the body reads ``ctx.params``."""
    signature = inspect.signature(command)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
              for name, kind, option in _SHARED_OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + shared)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**command.__annotations__, **{n: k for n, k, _ in _SHARED_OPTIONS}}
    return wrapper


def _write_outputs_note(files: list[Path]) -> None:
    typer.echo("wrote: " + ", ".join(str(f) for f in files))


@app.command("plan")
@_with_shared_options
def plan_command(
    ctx: typer.Context,
    strategy: str = typer.Option("fedspan", help="Policy to plan with (fedspan, mst, bfs, random-tree)."),
    strategy_option: Optional[list[str]] = StrategyOptOpt,
    out: Path = typer.Option(Path("runs/plan"), "--out", "-o", help="Output folder (plan.json, PNGs).",
                             parser=_out_dir),
    **shared: Any,
) -> None:
    """Plan every round: ISL graphs over the horizon and the optimizer's forest + resources.

    Writes plan.json (per round: time, parent of each satellite, roots, f/P/e/B, predicted latency,
    energy, solver stats), config.toml, and PNGs (forest map, per-round costs, SCA objective).

    Examples:
      fedspan plan --preset small --rounds 5
      fedspan plan --constellation starlink.tle --rounds 3 --trees auto --weights 1,1,0.5 -o runs/starlink
    """
    from fedspan.horizon import PlannedRound, PlanWriter, plan_horizon
    from fedspan.interrupts import exit_code, what
    from fedspan.progress import ProgressReporter
    from fedspan.runlock import lock_output_folder
    from fedspan.simulation import build_scenario, plan_sample_weights

    opts = dict(ctx.params)
    sim = _simulation_config(opts, ctx, strategy=strategy)
    with _status(f"loading {sim.constellation} and the {sim.dataset} model size"):
        scenario, bits = build_scenario(sim)
        weights_n = plan_sample_weights(sim, scenario.num_satellites)
        policy = _make_policy(sim)
    with lock_output_folder(out, "fedspan plan"):
        options = {**opts, "model_bits": bits, "constellation": sim.constellation}
        done: list[PlannedRound] = []
        writer = PlanWriter(out / "plan.json", scenario, options)
        config_path = _write_config(out, "plan", opts)
        with ProgressReporter(f"planning {scenario.num_satellites} satellites", sim.rounds) as bar:

            def on_round(record: PlannedRound) -> None:
                done.append(record)
                writer.update(done)  # rewritten at most ~10% of the time: linear in the rounds, not quadratic
                bar.advance(len(done), f"round {record.round}: {record.latency_s:.3g} s, {record.energy_j:.3g} J")
                if len(done) < sim.rounds:
                    bar.working(_planning_what(len(done), scenario.num_satellites, sim.strategy))

            if hasattr(policy, "progress"):  # the planner says which phase it is in (minutes at 50,000)
                policy.progress = lambda phase: bar.working(
                    f"{_planning_what(len(done), scenario.num_satellites, sim.strategy)}: {phase}")
            try:
                bar.working(_planning_what(0, scenario.num_satellites, sim.strategy))
                plan_horizon(scenario, policy, sim.rounds, sim.round_interval_s, weights_n,
                             local_steps=sim.local_steps, batch_size=sim.batch_size, mix_every=sim.mix_every,
                             seed=sim.seed, on_round=on_round)
            except KeyboardInterrupt as exc:
                bar.stop()
                writer.flush(done)
                typer.echo(f"{what(exc)}: {len(done)} planned round(s) of {sim.rounds} saved in {writer.path}",
                           err=True)
                raise typer.Exit(exit_code(exc)) from None
        plan_path = writer.flush(done)
    files = [plan_path, config_path]
    files += _plan_figures(out, scenario, done)
    _print_plan_summary(done, scenario)
    _write_outputs_note(files)


def _status(message: str) -> Any:
    from rich.console import Console
    from rich.markup import escape

    return Console(stderr=True).status(escape(message))


def _planning_what(round_index: int, satellites: int, strategy: str) -> str:
    """What planning round ``round_index`` involves (the planner adds its phase as it goes)."""
    return f"planning round {round_index} ({satellites} satellites)"


def _write_config(out: Path, command: str, opts: dict[str, Any]) -> Path:
    from fedspan.config import write_config

    return write_config(out / "config.toml", command, {k: (str(v) if isinstance(v, Path) else v)
                                                       for k, v in opts.items()})


def _make_policy(sim: "SimulationConfig") -> Any:
    from fedspan.simulation import make_policy

    return make_policy(sim)


def _plan_figures(out: Path, scenario: Any, done: list) -> list[Path]:
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


def _print_plan_summary(done: list, scenario: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Fed-Span plan: {scenario.num_satellites} satellites, {len(done)} round(s)")
    for col in ("round", "UTC", "trees", "depth", "latency s", "energy J", "bound", "from", "plan s", "status"):
        table.add_column(col, justify="right", no_wrap=col != "status")
    warnings: list[str] = []
    for p in done:
        bound = p.solver.get("bound")
        status = "fallback" if p.solver.get("fallback") else str(p.solver.get("status", "-"))
        notes = list(p.solver.get("warnings") or [])
        warnings.extend(f"round {p.round}: {w}" for w in notes)
        table.add_row(str(p.round), p.time_utc[11:19], str(len(p.roots)), str(p.max_depth), f"{p.latency_s:.3g}",
                      f"{p.energy_j:.3g}", "-" if bound is None else f"{bound:.3g}",
                      str(p.solver.get("source") or "-"), f"{p.solver.get('plan_time_s', 0.0):.1f}",
                      status + (" (!)" if notes else ""))
    console = Console()
    console.print(table)
    for line in warnings:  # a phase that failed or was cut short is said, not hidden
        console.print(f"warning: {line}", markup=False, highlight=False)


@app.command("run")
@_with_shared_options
def run_command(
    ctx: typer.Context,
    strategy: str = typer.Option("fedspan", help="Aggregation policy (see `fedspan compare --help` for the list)."),
    strategy_option: Optional[list[str]] = StrategyOptOpt,
    plan: Optional[Path] = typer.Option(None, "--plan", help="Replay a plan.json from `fedspan plan`."),
    backend: str = typer.Option("inprocess", help="inprocess, or distributed (under torchrun)."),
    faults: Optional[str] = typer.Option(None, help="Fault schedule: JSON list or file (see docs/failure-model.md)."),
    fault_rate: float = typer.Option(0.0, help="Random fault probability per satellite and round.", min=0.0,
                                     max=0.999),
    energy_budget: float = typer.Option(float("inf"), help="Battery per satellite for the whole run, J.", min=0.0),
    resume: bool = typer.Option(True, help="Resume from the output folder's checkpoint if there is one."),
    out: Path = typer.Option(Path("runs/run"), "--out", "-o", help="Output folder (metrics, checkpoint, PNGs).",
                             parser=_out_dir),
    **shared: Any,
) -> None:
    """Plan + train: federated learning over the constellation, with per-round metrics.

    Writes metrics.csv / metrics.json (simulated time, latency, energy, accuracy, loss per round),
    a checkpoint after every round (Ctrl-C keeps completed rounds; run again to resume),
    config.toml and PNGs (accuracy curves, per-round costs).

    Examples:
      fedspan run --preset small --rounds 10
      fedspan run --constellation starlink.tle --dataset mnist --data-root data/mnist --trees 4
      fedspan run --plan runs/plan/plan.json --rounds 5
    """
    opts = dict(ctx.params)
    overrides: dict[str, Any] = dict(strategy=strategy, backend=backend, faults=_parse_faults(faults, ctx),
                                     fault_rate=fault_rate, energy_budget_j=energy_budget, output_dir=str(out),
                                     resume=resume)
    if plan is not None:
        overrides.update(strategy="replay", strategy_options={"plan_file": str(plan)})
    sim = _simulation_config(opts, ctx, **overrides)
    files: list[Path] = []

    def on_start(first_round: int) -> None:  # the folder is locked and its checkpoint accepted
        files.append(_write_config(out, "run", opts))

    result = _run_with_progress(sim, f"{sim.strategy} on {sim.constellation}", on_start)
    files += result.output_files + _run_figures(out, {sim.strategy: result})
    _print_run_summary({sim.strategy: result})
    _write_outputs_note(files)


def _run_with_progress(sim: Any, label: str, on_start: Optional[Callable[[int], None]] = None) -> Any:
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
            bar.advance(count, f"acc {m.test_accuracy:.3f}, t = {m.time_s:.0f} s")
            if count < total:
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


def _columns(result: Any) -> dict[str, list[float]]:
    rows = result.metrics
    return {"sim_time_s": [m.time_s + m.latency_s for m in rows],
            "cumulative_energy_j": [m.cumulative_energy_j for m in rows],
            "test_accuracy": [m.test_accuracy for m in rows], "round": [m.round for m in rows],
            "latency_s": [m.latency_s for m in rows], "energy_j": [m.energy_j for m in rows]}


def _run_figures(out: Path, results: dict[str, Any]) -> list[Path]:
    from fedspan.plots import plot_accuracy_curves, plot_round_costs, plot_sweep

    cols = {name: _columns(r) for name, r in results.items() if r.metrics}
    if not cols:
        return []
    files = [plot_accuracy_curves(out / "accuracy.png", cols)]
    if len(cols) == 1:
        (name, c), = cols.items()
        files.append(plot_round_costs(out / "round-costs.png", c["round"], c["latency_s"], c["energy_j"],
                                      title=f"{name}: cost per round"))
    else:
        names = list(cols)
        files.append(plot_sweep(out / "cost-by-method.png", range(len(names)),
                                {"mean round latency [s]": [sum(cols[n]["latency_s"]) / len(cols[n]["latency_s"])
                                                            for n in names],
                                 "total energy [J]": [cols[n]["cumulative_energy_j"][-1] for n in names]},
                                xlabel=" | ".join(f"{i}: {n}" for i, n in enumerate(names)),
                                title="Cost by method"))
    return files


def _run_summaries(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One summary per method that ran at least one round (the printed table and summary.csv)."""
    return [{"method": name, "rounds": len(rows), "final_accuracy": rows[-1].test_accuracy,
             "simulated_time_s": rows[-1].time_s + rows[-1].latency_s,
             "mean_latency_s": sum(m.latency_s for m in rows) / len(rows),
             "total_energy_j": rows[-1].cumulative_energy_j, "fallbacks": sum(bool(m.fallback) for m in rows)}
            for name, rows in ((name, r.metrics) for name, r in results.items()) if rows]


def _print_run_summary(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Results")
    for col in ("method", "rounds", "final accuracy", "simulated time s", "mean latency s", "total energy J",
                "fallbacks"):
        table.add_column(col, justify="right")
    for row in _run_summaries(results):
        table.add_row(row["method"], str(row["rounds"]), f"{row['final_accuracy']:.3f}",
                      f"{row['simulated_time_s']:.1f}", f"{row['mean_latency_s']:.3g}",
                      f"{row['total_energy_j']:.4g}", str(row["fallbacks"]))
    Console().print(table)


@app.command("compare")
@_with_shared_options
def compare_command(
    ctx: typer.Context,
    strategies: str = typer.Option("all", help="Comma-separated policies, or 'all'."),
    out: Path = typer.Option(Path("runs/compare"), "--out", "-o", help="Output folder (CSV, per-method runs, PNGs).",
                             parser=_out_dir),
    **shared: Any,
) -> None:
    """Fed-Span against the baselines on the same scenario, clock, energy ledger and data.

    Writes compare.csv (one row per method and round), summary.csv (one row per method),
    each method's metrics in a sub-folder, config.toml and PNGs (accuracy vs simulated time and
    vs energy, cost by method).

    Examples:
      fedspan compare --preset small --rounds 10
      fedspan compare --strategies fedspan,mst,star,gossip --partition dirichlet --alpha 0.3
    """
    from fedspan.strategies import strategy_names

    opts = dict(ctx.params)
    known = [n for n in strategy_names() if n != "replay"]
    names = known if strategies.strip() == "all" else [n.strip() for n in strategies.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise typer.BadParameter(f"unknown strateg{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                                 f"(choose from {', '.join(known)})", param_hint="--strategies")
    from fedspan.runlock import lock_output_folder

    sims = {name: _simulation_config(opts, ctx, strategy=name, output_dir=str(out / name), resume=False)
            for name in names}
    with lock_output_folder(out, "fedspan compare"):
        files = [_write_config(out, "compare", opts)]
        results: dict[str, Any] = {}
        for name, sim in sims.items():
            results[name] = _run_with_progress(sim, f"{name:>12}")
        files += _write_comparison(out, results) + _run_figures(out, results)
    _print_run_summary(results)
    _write_outputs_note(files)


def _write_comparison(out: Path, results: dict[str, Any]) -> list[Path]:
    import csv

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
    with summary_path.open("w", newline="", encoding="utf-8") as f:
        columns = ["method", "rounds", "final_accuracy", "simulated_time_s", "mean_latency_s", "total_energy_j"]
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in _run_summaries(results))
    return [rows_path, summary_path]


def _error_types() -> tuple[type[BaseException], ...]:
    """The error types that are the user's to fix: printed as one line, never as a traceback."""
    from fedspan.errors import FedSpanError
    from optimization.errors import OptimizationError
    from orbits.errors import OrbitsError

    return (FedSpanError, OptimizationError, OrbitsError, OSError, ValueError)


_ORIGINAL_FORMATWARNING: dict[str, Callable[..., str]] = {}  # warnings.formatwarning before main() replaced it


def _one_line_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                      line: Optional[str] = None) -> str:
    """Warnings as ``warning: message`` (no source line) unless --debug."""
    if _DEBUG["on"]:
        return _ORIGINAL_FORMATWARNING["f"](message, category, filename, lineno, line)
    return f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}\n"


def _usage_line(exc: Any) -> str:
    """A usage error (typer's own click) as one line: the message and where to get help."""
    text = " ".join(exc.format_message().split())
    path = getattr(getattr(exc, "ctx", None), "command_path", None)
    return f"error: {text} (see '{path} --help')" if path else f"error: {text}"


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the `fedspan` console script: every failure is one line and a non-zero exit code.

    Exit codes: 0 success, 1 bad input or a failed run, 2 bad usage, 130 Ctrl-C, 143 SIGTERM.
    """
    import warnings

    from fedspan.interrupts import handle_sigterm, restore_sigterm

    formatwarning, previous = warnings.formatwarning, handle_sigterm()
    _ORIGINAL_FORMATWARNING["f"] = formatwarning
    warnings.formatwarning = _one_line_warning  # type: ignore[assignment]
    try:
        code = _main(argv)
    finally:  # in-process callers (tests, notebooks) get their handlers back
        warnings.formatwarning = formatwarning
        restore_sigterm(previous)
    if code:
        sys.exit(code)


def _main(argv: Optional[list[str]]) -> int:
    """Run the command; return its exit code after printing any failure as one line."""
    from fedspan.interrupts import exit_code, what

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="fedspan", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown options, missing files
        print(_usage_line(exc), file=sys.stderr)
        return int(getattr(exc, "exit_code", 2) or 2)
    except (typer.Abort, KeyboardInterrupt) as exc:  # before any round was done (later ones say what was kept)
        cause = exc.__cause__ if isinstance(exc, typer.Abort) and exc.__cause__ is not None else exc
        print(f"{what(cause)}: stopped before any round was completed", file=sys.stderr)
        return exit_code(cause)
    except _error_types() as exc:
        if _DEBUG["on"]:
            raise
        print(f"error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0  # typer.Exit(n) under standalone_mode=False is returned


if __name__ == "__main__":  # pragma: no cover
    main()
