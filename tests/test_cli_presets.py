"""The CLI's preset lookup and `constellation walker --preset` go through `orbits.walker`; one run summary."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from fedspan.cli import _run_summaries, main
from orbits import Constellation
from orbits.tle import read_tle
from orbits.walker import write_preset


def _cli(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_walker_preset_is_write_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["constellation", "walker", "--preset", "small", "-o", str(tmp_path / "cli.tle")]) == 0
    write_preset("small", tmp_path / "lib.tle")
    assert (tmp_path / "cli.tle").read_bytes() == (tmp_path / "lib.tle").read_bytes()
    names = [t.name for t in read_tle(tmp_path / "cli.tle")]
    assert names == list(Constellation.from_preset("small").names)
    assert all(n.startswith("SMALL-") for n in names)


def test_run_summaries_skip_empty_runs() -> None:
    row = SimpleNamespace(test_accuracy=0.5, time_s=10.0, latency_s=2.0, cumulative_energy_j=7.0, fallback="")
    rows = [SimpleNamespace(**{**row.__dict__, "latency_s": 4.0, "fallback": "mst"}), row]
    out = _run_summaries({"a": SimpleNamespace(metrics=rows), "b": SimpleNamespace(metrics=[])})
    assert out == [{"method": "a", "rounds": 2, "final_accuracy": 0.5, "simulated_time_s": 12.0,
                    "mean_latency_s": 3.0, "total_energy_j": 7.0, "fallbacks": 1}]


def test_version_flag_prints_the_package_version(capsys):
    from fedspan import __version__
    from fedspan.cli import main

    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert capsys.readouterr().out.strip() == f"fedspan {__version__}"
