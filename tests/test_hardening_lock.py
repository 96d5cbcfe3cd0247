"""The output folder's lock cannot be turned against the user (issue #25, item 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_run import run_cli
from fedspan.runlock import LOCK_NAME, FolderBusyError, lock_output_folder

FAST = ["--max-train", "300", "--max-test", "200"]


def _hold(folder: Path, command: str) -> subprocess.Popen:
    code = ("import sys, time\nfrom fedspan.runlock import lock_output_folder\n"
            "with lock_output_folder(sys.argv[1], sys.argv[2]):\n    print('locked', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder), command], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _stop(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait()


def test_a_symlinked_lock_file_leaves_its_target_alone(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("data\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(victim)
    code, _, err = run_cli(["run", "--strategy", "mst", "--rounds", "1", *FAST, "-o", str(out)], capsys)
    assert code == 0, err
    assert victim.read_text() == "data\n"
    assert not (out / LOCK_NAME).exists() and not (out / LOCK_NAME).is_symlink()


def test_a_hard_linked_lock_file_leaves_its_target_alone(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("data\n")
    (tmp_path / "out").mkdir()
    os.link(victim, tmp_path / "out" / LOCK_NAME)
    with lock_output_folder(tmp_path / "out"):
        pass
    assert victim.read_text() == "data\n"


def test_deleting_the_lock_file_does_not_release_the_lock(tmp_path):
    holder = _hold(tmp_path, "fedspan run")
    try:
        (tmp_path / LOCK_NAME).unlink()
        with pytest.raises(FolderBusyError, match="in use by another fedspan command"):
            with lock_output_folder(tmp_path):
                pass
        (tmp_path / LOCK_NAME).symlink_to(tmp_path / "nowhere")  # a planted link changes nothing either
        with pytest.raises(FolderBusyError):
            with lock_output_folder(tmp_path):
                pass
    finally:
        _stop(holder)
    with lock_output_folder(tmp_path):  # released when the holder died
        pass


@pytest.mark.parametrize("command", ["fedspan plan", "fedspan run", "fedspan compare"])
def test_the_message_names_the_command_that_holds_the_folder(tmp_path, capsys, command):
    holder = _hold(tmp_path, command)
    try:
        code, _, err = run_cli(["plan", "--strategy", "mst", "--rounds", "1", "-o", str(tmp_path)], capsys)
        assert code == 1
        assert f"in use by another {command} (pid {holder.pid})" in err
    finally:
        _stop(holder)


def test_a_forged_note_is_not_echoed(tmp_path):
    holder = _hold(tmp_path, "fedspan run")
    try:
        (tmp_path / LOCK_NAME).write_text("12 [red]rm -rf /[/red]\n" + "x" * 10_000)
        with pytest.raises(FolderBusyError) as info:
            with lock_output_folder(tmp_path):
                pass
        assert "rm -rf" not in str(info.value) and "another fedspan command (pid 12)" in str(info.value)
    finally:
        _stop(holder)


def test_the_lock_file_is_removed_after_a_clean_exit(tmp_path, capsys):
    for command in (["run", "--strategy", "mst", *FAST], ["plan", "--strategy", "mst"]):
        out = tmp_path / command[0]
        code, _, err = run_cli([*command, "--rounds", "1", "-o", str(out)], capsys)
        assert code == 0, err
        assert not (out / LOCK_NAME).exists()
        assert not [p for p in out.iterdir() if p.name.startswith(LOCK_NAME)]


def test_the_lock_is_reentrant_and_the_note_stays_until_the_outer_block_ends(tmp_path):
    with lock_output_folder(tmp_path, "fedspan compare"):
        with lock_output_folder(tmp_path, "fedspan run"):
            pass
        assert (tmp_path / LOCK_NAME).read_text().split(" ", 1)[1] == "fedspan compare\n"
    assert not (tmp_path / LOCK_NAME).exists()
