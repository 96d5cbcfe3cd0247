"""The CLI's promises under bad input, interrupts and concurrency: one line, the right exit code, nothing lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_run import run_cli

FAST = ["--max-train", "300", "--max-test", "200"]




@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    (root / "latin1.json").write_bytes('[{"round": 0, "kind": "satellite", "satellite": 1, "note": "\xe9"}]'
                                       .encode("latin-1"))
    (root / "a-folder").mkdir()
    return root


BAD_INPUT = [
    (["constellation", "walker", "--preset", "nope", "-o", "x.tle"], "unknown preset 'nope'"),
    (["constellation", "walker", "--walker", "53:10/2/1", "-o", "x.tle"], "--walker needs --altitude"),
    (["constellation", "info", "{root}/missing.tle"], "missing.tle"),
    (["constellation", "info", "{root}/[b]x[/i].tle"], "[b]x[/i].tle"),
    (["plan", "--seed", "-1"], "'-1' is not an integer seed"),
    (["plan", "--seed", "1e20"], "'1e20' is not an integer seed"),
    (["plan", "--round-interval", "inf"], "is not a finite number"),
    (["plan", "--constellation", "{root}/a-folder"], "is a directory, not a TLE file"),
    (["plan", "-o", ""], "must not be empty"),
    (["plan", "--trees", "zero"], "--trees"),
    (["run", "--strategy-option", "sca_iters=abc", "-o", "{root}/r1"], "sca_iters='abc'"),
    (["run", "--faults", "{root}/latin1.json", "-o", "{root}/r2"], "latin1.json: not a UTF-8 text file"),
    (["run", "--faults", "[{{\"round\": 0,", "-o", "{root}/r3"], "not a JSON list of faults"),
    (["run", "--plan", "{root}/missing-plan.json", "-o", "{root}/r4"], "missing-plan.json: plan file not found"),
    (["run", "--energy-budget", "-1", "-o", "{root}/r5"], "--energy-budget"),
    (["compare", "--strategies", "mst,teleport"], "unknown strategy teleport"),
    (["compare", "--seed", "x"], "'x' is not an integer seed"),
]


@pytest.mark.parametrize("args, expected", BAD_INPUT, ids=[" ".join(a[:3]) for a, _ in BAD_INPUT])
def test_every_command_answers_bad_input_with_one_line(args, expected, files, capsys):
    code, out, err = run_cli([a.format(root=files) for a in args], capsys)
    lines = err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0]
    assert "Traceback" not in out + err


def test_markup_in_file_names_is_printed_literally(tmp_path, capsys, monkeypatch):
    from orbits.walker import write_preset

    monkeypatch.chdir(tmp_path)  # short names: the table title does not wrap
    for name in ("[b]x[/i].tle", "[red]y.tle"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        write_preset("small", name)
        code, out, err = run_cli(["constellation", "info", name], capsys)
        assert code == 0, err
        assert name in out


@pytest.mark.parametrize("command", ["plan", "run", "compare"])
def test_ctrl_c_exits_130_and_says_what_was_kept(command, tmp_path, capsys, monkeypatch):
    calls = {"n": 0}
    if command == "plan":
        import fedspan.horizon as target
        original = target.plan_round
        name = "plan_round"
    else:
        import fedspan.simulation as target
        original = target.Simulation.step
        name = "step"

    def interrupt_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target if command == "plan" else target.Simulation, name, interrupt_second)
    extra = ["--strategies", "mst"] if command == "compare" else ["--strategy", "mst"]
    learning = [] if command == "plan" else FAST
    code, out, err = run_cli([command, "--rounds", "3", *extra, *learning, "-o", str(tmp_path)], capsys)
    assert code == 130
    line = err.strip().splitlines()[-1]
    assert line.startswith("interrupted: 1 ")
    if command == "plan":
        assert "planned round(s) of 3 saved in" in line
        assert len(json.loads((tmp_path / "plan.json").read_text())["rounds"]) == 1
    else:
        assert "completed round(s) of 3 kept in" in line and "resume" in line


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signals_keep_the_completed_rounds(sig, code, word, tmp_path):
    out = tmp_path / "run"
    # A shell's background job ignores SIGINT; a terminal's foreground job does not: restore the default.
    child = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from fedspan.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", child, "run", "--strategy", "mst",
                             "--rounds", "500", *FAST, "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics, deadline = out / "metrics.csv", time.monotonic() + 300
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        assert time.monotonic() < deadline and proc.poll() is None, "the run did not complete two rounds"
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"{word}: " in err and "completed round(s) of 500 kept in" in err, err
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) >= 3 and rows[0].startswith("round,")


def test_a_refused_run_leaves_config_toml_alone(tmp_path, capsys):
    args = ["run", "--strategy", "mst", "--rounds", "1", *FAST, "-o", str(tmp_path)]
    assert run_cli(args, capsys)[0] == 0
    before = (tmp_path / "config.toml").read_bytes()
    code, _, err = run_cli([*args, "--lr", "0.2"], capsys)
    assert code == 1 and "differs in lr" in err
    assert (tmp_path / "config.toml").read_bytes() == before


def test_a_second_run_on_a_busy_folder_is_refused(tmp_path, capsys):
    hold = ("import sys, time\nfrom fedspan.runlock import lock_output_folder\n"
            "with lock_output_folder(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for command in (["run", "--strategy", "mst", *FAST], ["plan", "--strategy", "mst"],
                        ["compare", "--strategies", "mst", *FAST]):
            code, _, err = run_cli([*command, "--rounds", "1", "-o", str(tmp_path)], capsys)
            assert code == 1 and "in use by another fedspan" in err and f"pid {holder.pid}" in err
        assert not (tmp_path / "config.toml").exists()
    finally:
        holder.kill()
        holder.wait()


def test_inline_faults_longer_than_a_file_name(tmp_path, capsys):
    faults = json.dumps([{"round": 0, "kind": "link", "edge": [i, i + 1]} for i in range(12)])
    assert len(faults) > 255
    code, _, err = run_cli(["run", "--strategy", "mst", "--rounds", "1", *FAST, "--faults", faults,
                            "-o", str(tmp_path)], capsys)
    assert code == 0, err


def test_plan_logs_progress_when_piped_and_rewrites_plan_json_sparingly(tmp_path, capsys, monkeypatch):
    import fedspan.planfile

    writes = []
    original = fedspan.planfile.write_plan
    monkeypatch.setattr(fedspan.planfile, "write_plan", lambda *a, **k: writes.append(1) or original(*a, **k))
    code, out, err = run_cli(["plan", "--strategy", "mst", "--rounds", "12", "-o", str(tmp_path)], capsys)
    assert code == 0, err
    assert "planning 66 satellites: 12/12 done" in out  # captured output is not a terminal: plain lines
    assert len(json.loads((tmp_path / "plan.json").read_text())["rounds"]) == 12
    assert len(writes) <= 4  # not once per round
