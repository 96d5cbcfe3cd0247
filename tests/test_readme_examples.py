"""Every command block of README.md and docs/ runs as written (tools/check_readme.py), at smoke size."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import check_readme  # noqa: E402


def test_the_command_blocks_are_found_and_shrunk_not_rewritten():
    commands = [c for f in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))) for c in check_readme.commands_of(f)]
    texts = [c.text for c in commands]
    assert any(t.startswith("fedspan compare --preset small") for t in texts)
    assert any(t.startswith("torchrun ") for t in texts) and any(c.source.startswith("docs/") for c in commands)
    # `a && b && c` is three commands; comments and diagrams are not commands.
    assert [c.argv[0] for c in commands if c.source == commands[0].source] == ["pip", "pip", "fedspan"]
    assert not any(t.startswith(("orbits", "ctx", "#")) for t in texts)
    assert check_readme.shrunk(["fedspan", "run", "--rounds", "10", "-o", "x"]) == [
        "fedspan", "run", "--rounds", "1", "-o", "x", "--max-train", "200", "--max-test", "200"]
    faults = check_readme.shrunk(["fedspan", "run", "--faults", "[]", "--rounds", "8"])
    assert faults[faults.index("--rounds") + 1] == "3"
    assert check_readme.shrunk(["fedspan", "constellation", "info", "a.tle"]) == ["fedspan", "constellation", "info", "a.tle"]


def test_readme_examples_write_inside_ignored_folders():
    # A reader's outputs land under runs/ (ignored), never in the repository root.
    for cmd in check_readme.commands_of(REPO / "README.md"):
        if cmd.argv[0] == "fedspan":
            for flag in ("-o", "--out", "--output-dir"):
                if flag in cmd.argv:
                    assert cmd.argv[cmd.argv.index(flag) + 1].startswith("runs/"), cmd.source
        if cmd.argv[0] == "torchrun":
            config = cmd.argv[cmd.argv.index("--config") + 1]
            # The file it reads is one an earlier README command writes.
            assert config.endswith("config.toml") and any(
                c.argv[0] == "fedspan" and config.startswith(c.argv[c.argv.index("-o") + 1] + "/")
                for c in check_readme.commands_of(REPO / "README.md") if "-o" in c.argv)


def test_a_failing_command_is_reported(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```bash\nfedspan run --preset small --dataset mnist -o runs/x\n```\n")
    commands = [check_readme.Command("doc.md:2", ["fedspan", "run", "--preset", "small", "--dataset", "mnist",
                                                   "-o", "runs/x"])]
    lines: list[str] = []

    class Sink:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    failures = check_readme.run(commands, tmp_path, out=Sink())
    assert len(failures) == 1 and "--data-root" in failures[0]


@pytest.mark.slow
def test_every_readme_and_docs_command_runs(tmp_path, capsys):
    code = check_readme.main(["--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out and "commands ran as written" in out
