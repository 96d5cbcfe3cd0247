"""`fedspan constellation walker|info|export`: generate, summarise and export constellations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fedspan.cli.app import Command, constellation_app
from fedspan.cli.options import CHOICES, DebugOption, parse_time_option, usage_parser
from fedspan.config import LINK_POLICY, PRESET, Choice, parse_constellation


@constellation_app.command("walker", cls=Command)
def constellation_walker(
    output: Path = typer.Option(..., "-o", "--output", help="TLE file to write."),
    preset: Optional[str] = typer.Option(None, help="Walker preset.", parser=usage_parser(PRESET)),
    walker: Optional[str] = typer.Option(None, help="Walker-delta i:T/P/F, e.g. 53:1584/72/1 (with --altitude)."),
    altitude: Optional[float] = typer.Option(None, help="Altitude in km for --walker."),
    epoch: Optional[str] = typer.Option(None, help="TLE epoch, ISO-8601 UTC (default 2024-05-12T00:00Z)."),
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

    when = parse_time_option(epoch, "--epoch")
    if (preset is None) == (walker is None):
        raise typer.BadParameter("give exactly one of --preset or --walker")
    if preset is not None:
        spec = preset_spec(preset)
        count = write_preset(preset, output, epoch=when)
    else:
        if altitude is None:
            raise typer.BadParameter("--walker needs --altitude (km)")
        spec = WalkerSpec.parse(walker, altitude)
        count = write_tle(output, walker_delta(spec, epoch=when))
    typer.echo(f"wrote {count} satellites ({spec.notation}, {spec.altitude_km:g} km) to {output}")


@constellation_app.command("info", cls=Command)
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


EXPORT_FORMAT = Choice("format", lambda: ("satgenpy",))


@constellation_app.command("export", cls=Command)
def constellation_export(
    folder: Optional[Path] = typer.Argument(None, help="Folder to write the files into (or -o).", show_default=False),
    output_dir: Optional[Path] = typer.Option(None, "-o", "--output-dir", help="Folder to write the files into "
                                              "(created if missing), as for every other command."),
    export_format: str = typer.Option(..., "--format", help="Export format: satgenpy (Hypatia).",
                                      parser=usage_parser(EXPORT_FORMAT)),
    constellation: Optional[str] = typer.Option(None, "--constellation", "-c",
                                                help="TLE file or preset name (default: the small preset)."),
    preset: Optional[str] = typer.Option(None, help="Walker preset.", parser=usage_parser(PRESET)),
    ground_stations: Optional[Path] = typer.Option(
        None, "--ground-stations", help="CSV of ground stations (name,lat,lon[,alt_km,min_elev_deg]); default none."),
    link_policy: str = typer.Option("knn", "--link-policy", help="ISLs: knn (k nearest feasible) or grid (+Grid).",
                                   parser=usage_parser(LINK_POLICY)),
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
      fedspan constellation export --format satgenpy --preset small --link-policy grid -o hypatia/small
    """
    from orbits.ground import read_ground_stations
    from orbits.hypatia import export_satgenpy
    from orbits.isl import snapshots

    from fedspan.scenario import load_constellation

    if folder is not None and output_dir is not None and folder != output_dir:
        raise typer.BadParameter(f"two output folders ({folder} and -o {output_dir}); give one")
    out_dir = output_dir or folder
    if out_dir is None:
        raise typer.BadParameter("name the folder to write into with -o FOLDER")
    when = parse_time_option(start, "--start")
    if constellation and preset:
        raise typer.BadParameter("give --constellation or --preset, not both")
    source = usage_parser(parse_constellation)(constellation) if constellation else preset or "small"
    stations = read_ground_stations(ground_stations) if ground_stations is not None else []
    con = load_constellation(source, skip_bad_tles)
    snap = next(snapshots(con, when, [0.0], policy=link_policy, k=neighbors))
    files = export_satgenpy(out_dir, con, snap.edges, stations, name=name)
    isls = sum(1 for _ in files[1].open(encoding="utf-8"))
    typer.echo(f"wrote {len(con)} satellites, {isls} ISLs ({link_policy}) and {len(stations)} ground stations "
               f"for satgenpy to {out_dir}")
CHOICES["export_format"] = EXPORT_FORMAT
