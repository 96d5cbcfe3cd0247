"""Interrupts anywhere, closed or broken stdout (issue #25, item 5).

Every phase of a command (start-up and option parsing, scenario building and planning, the rounds,
the figures after the last round) ends a Ctrl-C with 130 and a SIGTERM with 143, each with one line
saying what was kept. The in-process tests raise what the signal handlers raise (``KeyboardInterrupt``
and ``fedspan.interrupts.Terminated``) at the start of a phase; the subprocess tests send real signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli_run import run_cli
from fedspan.interrupts import Terminated

FAST = ["--max-train", "300", "--max-test", "200"]
SIGNALS = [pytest.param(KeyboardInterrupt, 130, "interrupted", id="SIGINT"),
           pytest.param(Terminated, 143, "terminated", id="SIGTERM")]


def _raiser(exc_type):
    def boom(*args, **kwargs):
        raise exc_type()
    return boom


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("warning:", "["))]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("exc_type, code, word", SIGNALS)
def test_interrupt_while_reading_options(tmp_path, capsys, monkeypatch, exc_type, code, word):
    import fedspan.cli.options as options

    monkeypatch.setattr(options, "read_config", _raiser(exc_type))
    (tmp_path / "a.toml").write_text("rounds = 1\n")
    got, _, err = run_cli(["run", "--config", str(tmp_path / "a.toml"), "-o", str(tmp_path / "out")], capsys)
    assert got == code and _one_line(err) == f"{word}: stopped before any round was completed; nothing to resume"


@pytest.mark.parametrize("exc_type, code, word", SIGNALS)
def test_interrupt_while_building_the_scenario_of_a_plan(tmp_path, capsys, monkeypatch, exc_type, code, word):
    import fedspan.simulation as simulation

    monkeypatch.setattr(simulation, "build_scenario", _raiser(exc_type))
    got, _, err = run_cli(["plan", "--strategy", "mst", "--rounds", "1", "-o", str(tmp_path)], capsys)
    assert got == code and _one_line(err).startswith(f"{word}: stopped before any round was completed")


@pytest.mark.parametrize("exc_type, code, word", SIGNALS)
def test_interrupt_while_drawing_the_run_figures(tmp_path, capsys, monkeypatch, exc_type, code, word):
    import fedspan.cli.train as train

    monkeypatch.setattr(train, "run_figures", _raiser(exc_type))
    got, _, err = run_cli(["run", "--strategy", "mst", "--rounds", "2", *FAST, "-o", str(tmp_path)], capsys)
    assert got == code
    assert _one_line(err) == (f"{word} while writing the figures and tables: all 2 round(s) are kept in {tmp_path} "
                              f"(checkpoint.pt, metrics.csv, metrics.json); run the same command again to write them")
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 3
    monkeypatch.undo()
    got, _, err = run_cli(["run", "--strategy", "mst", "--rounds", "2", *FAST, "-o", str(tmp_path)], capsys)
    assert got == 0 and (tmp_path / "accuracy.png").is_file()  # the rerun draws them


@pytest.mark.parametrize("exc_type, code, word", SIGNALS)
def test_interrupt_while_drawing_the_plan_figures(tmp_path, capsys, monkeypatch, exc_type, code, word):
    import fedspan.cli.plan as plan

    monkeypatch.setattr(plan, "plan_figures", _raiser(exc_type))
    got, _, err = run_cli(["plan", "--strategy", "mst", "--rounds", "1", "-o", str(tmp_path)], capsys)
    assert got == code and _one_line(err).startswith(f"{word} while writing the figures and tables: all 1 planned")
    assert (tmp_path / "plan.json").is_file()


def test_interrupt_while_writing_the_comparison(tmp_path, capsys, monkeypatch):
    import fedspan.cli.train as train

    monkeypatch.setattr(train, "write_comparison", _raiser(Terminated))
    got, _, err = run_cli(["compare", "--strategies", "mst", "--rounds", "1", *FAST, "-o", str(tmp_path)], capsys)
    assert got == 143 and "terminated while writing the figures and tables" in _one_line(err)
    assert (tmp_path / "mst" / "metrics.csv").is_file()


def test_an_eof_error_from_a_library_is_an_error_not_an_interrupt(tmp_path, capsys, monkeypatch):
    import fedspan.simulation as simulation

    def eof(*args, **kwargs):
        raise EOFError("Ran out of input")

    monkeypatch.setattr(simulation, "build_scenario", eof)
    got, _, err = run_cli(["plan", "--strategy", "mst", "--rounds", "1", "-o", str(tmp_path)], capsys)
    assert got == 1 and _one_line(err) == "error: a file ended unexpectedly (Ran out of input)"


# --- real signals and real pipes, in subprocesses ------------------------------------------------------
_WAIT_IN_PLANNING = """
import sys, time
import fedspan.simulation as simulation
def slow(*args, **kwargs):
    print("ready", flush=True)
    time.sleep(60)
simulation.build_scenario = slow
from fedspan.cli import main
main(["plan", "--strategy", "mst", "--rounds", "1", "-o", sys.argv[1]])
"""


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"),
                                                 (signal.SIGTERM, 143, "terminated")])
def test_a_real_signal_during_start_up(tmp_path, signum, code, word):
    proc = subprocess.Popen([sys.executable, "-c", _WAIT_IN_PLANNING, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert f"{word}: stopped before any round was completed" in err and "Traceback" not in err


def _fedspan(args: list[str]) -> list[str]:
    return [sys.executable, "-c", "import sys; from fedspan.cli import main; main(sys.argv[1:])", *args]


def test_a_broken_pipe_does_not_stop_the_run(tmp_path):
    run = ["run", "--strategy", "mst", "--rounds", "2", *FAST, "-o", str(tmp_path)]
    proc = subprocess.Popen(_fedspan(run), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()  # what `| head -c 1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert (tmp_path / "accuracy.png").is_file() and len((tmp_path / "metrics.csv").read_text().splitlines()) == 3


def test_a_closed_stdout_does_not_stop_the_run(tmp_path):
    run = ["run", "--strategy", "mst", "--rounds", "1", *FAST, "-o", str(tmp_path)]
    done = subprocess.run(_fedspan(run), stdout=None, stderr=subprocess.PIPE, text=True, timeout=300,
                          preexec_fn=lambda: os.close(1))  # what `>&-` does
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and (tmp_path / "accuracy.png").is_file()
