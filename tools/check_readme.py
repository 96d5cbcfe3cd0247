"""Run every command block of README.md and docs/*.md, so a README that drifts from its commands fails.

Run: python tools/check_readme.py [--workdir DIR] [--full] [--quotes] [--list] [FILE.md ...]

Every fenced ``bash``/``sh`` block, and every untagged block whose lines start with a command, is split into
commands (``&&`` chains and ``\\`` continuations included, comments dropped) and run in order, each in a shell
from the work folder (a fresh temporary one by default), so one block's outputs (``runs/plan/plan.json``) feed
the next as they would for a reader. ``fedspan`` and ``torchrun`` commands run there, exactly as written apart
from their size: unless ``--full``, ``--rounds`` becomes 1 and ``run``/``compare``/``torchrun`` get
``--max-train 200 --max-test 200`` (the benchmark smoke run gets ``--methods 'Fed-Span K=1'``), which keeps the
whole check near two minutes on 2 cores. ``python benchmarks/...`` commands run from the repository root, where
their paths point (they write only the ignored ``benchmarks/out/``). ``pip install`` and ``python -m pytest``
lines are reported as skipped: the environment already holds the first, and the second is the suite itself.
Afterwards the committed files the commands could touch (README.md, docs/, benchmarks/results/) must be
byte-identical. ``--quotes`` also reruns the real-snapshot plan the README quotes numbers from and compares
them. Exit status 0 when every command succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: A line of an untagged block is a command when it starts with one of these.
COMMANDS = ("fedspan", "python", "torchrun", "pip")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
#: Each command gets this long (s) before it counts as failed.
TIMEOUT_S = 600


@dataclass
class Command:
    """One command of a document: where it is written and its words."""

    source: str  # "README.md:38"
    argv: list[str]

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


def commands_of(path: Path) -> list[Command]:
    """The commands of ``path``'s fenced blocks, in order (``source`` names the file and line)."""
    text = path.read_text(encoding="utf-8")
    found: list[Command] = []
    for block in FENCE.finditer(text):
        lang, body = block.group(1).lower(), block.group(2)
        first_line = text[:block.start(2)].count("\n") + 1
        logical: list[tuple[int, str]] = []
        pending, start = "", 0
        for offset, line in enumerate(body.splitlines()):
            if not pending:
                start = first_line + offset
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            logical.append((start, pending + line))
            pending = ""
        for line_no, line in logical:
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue  # not shell: a diagram or a formula
            if not words or (lang not in ("bash", "sh", "shell") and words[0] not in COMMANDS):
                continue
            # `a && b`: each part is a command of its own, run in order.
            part: list[str] = []
            for word in [*words, "&&"]:
                if word == "&&":
                    if part:
                        found.append(Command(f"{path.relative_to(REPO)}:{line_no}", part))
                    part = []
                else:
                    part.append(word)
    return found


def _set(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option`` set to ``value`` (replaced where given, appended otherwise)."""
    out, i, done = [], 0, False
    while i < len(argv):
        word = argv[i]
        if word == option and i + 1 < len(argv):
            out += [option, value]
            i, done = i + 2, True
            continue
        if word.startswith(option + "="):
            out.append(f"{option}={value}")
            i, done = i + 1, True
            continue
        out.append(word)
        i += 1
    return out if done else out + [option, value]


def shrunk(argv: list[str]) -> list[str]:
    """The same command at smoke size: one round, a small data sample, one benchmark method."""
    words = list(argv)
    if words[0] == "fedspan" and len(words) > 1 and words[1] in ("plan", "run", "compare"):
        # A fault schedule names its rounds (the README's: round 2), so such a run keeps three.
        words = _set(words, "--rounds", "3" if "--faults" in words else "1")
        if words[1] != "plan":
            words = _set(_set(words, "--max-train", "200"), "--max-test", "200")
    elif words[0] == "torchrun":
        words = _set(words, "--rounds", "1")  # the config file it reads carries the sample sizes
    elif words[:2] == ["python", "benchmarks/run_all.py"] and "--quick" in words:
        words = _set(words, "--methods", "Fed-Span K=1")
    return words


def skip_reason(argv: list[str]) -> str | None:
    """Why a command is not run (None: it is)."""
    if argv[0] == "pip":
        return "installs the package (the environment running this check has it)"
    if argv[:3] == ["python", "-m", "pytest"]:
        return "the test suite itself"
    return None


def committed_digests() -> dict[str, str]:
    """SHA-256 of the committed files the commands could change."""
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*")), *sorted((REPO / "benchmarks" / "results").glob("*"))]
    return {str(p.relative_to(REPO)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def run(commands: list[Command], workdir: Path, full: bool = False, out=sys.stdout) -> list[str]:
    """Run ``commands`` in order from ``workdir`` (benchmark scripts from the repository); returns the failures.

    Each document's commands run from a folder of their own (``workdir/README``, ``workdir/strategies``): a
    reader may open any one of them first.
    """
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    failures: list[str] = []
    for cmd in commands:
        why = skip_reason(cmd.argv)
        if why:
            print(f"skip  {cmd.source}: {cmd.text} ({why})", file=out, flush=True)
            continue
        argv = cmd.argv if full else shrunk(cmd.argv)
        if argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        own = workdir / Path(cmd.source.split(":")[0]).stem
        own.mkdir(parents=True, exist_ok=True)
        cwd = REPO if any(w.startswith("benchmarks/") for w in argv[1:2]) else own
        begin = time.perf_counter()
        try:
            done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
            code, tail = done.returncode, (done.stdout + done.stderr)[-1500:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            code, tail = -1, str(exc)
        wall = time.perf_counter() - begin
        shown = shlex.join(["python", *argv[1:]] if argv[0] == sys.executable else argv)
        print(f"{'ok' if code == 0 else 'FAIL':5} {cmd.source}: {shown} ({wall:.1f} s)", file=out, flush=True)
        if code != 0:
            failures.append(f"{cmd.source}: `{cmd.text}` exited {code}:\n{tail}")
            print(tail, file=out, flush=True)
    return failures


#: The README sentence quoting a real-snapshot plan: its command and the numbers it gives.
STARLINK_QUOTE = re.compile(r"\(`(fedspan plan --constellation (starlink-[\w-]+\.tle)[^`]*)`.*?tree of depth (\d+).*?"
                            r"latency ([\d.]+) s and energy ([\d.]+) J", re.S)


def check_quotes(workdir: Path, data_dir: Path, tolerance: float = 0.05, out=sys.stdout) -> list[str]:
    """Rerun the README's quoted real-snapshot plan and compare its depth (exactly), latency and energy (within
    ``tolerance``, relative) with the quoted ones; the TLE file comes from ``data_dir`` (skipped when absent)."""
    import json

    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = STARLINK_QUOTE.search(" ".join(text.split()))
    if not found:
        return ["README.md: the quoted Starlink plan sentence (command, depth, latency, energy) is gone"]
    command, tle, depth, latency, energy = found.groups()
    if not (data_dir / tle).is_file():
        print(f"skip  quoted plan: {data_dir / tle} absent", file=out)
        return []
    argv = shlex.split(command)
    argv[argv.index("--constellation") + 1] = str(data_dir / tle)
    argv += ["-o", str(workdir / "quoted-plan")]
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0:
        return [f"quoted plan `{command}` exited {done.returncode}: {(done.stdout + done.stderr)[-800:]}"]
    got = json.loads((workdir / "quoted-plan" / "plan.json").read_text())["rounds"][0]
    problems = []
    if got["max_depth"] != int(depth):
        problems.append(f"quoted depth {depth}, the command gives {got['max_depth']}")
    for name, quoted, key in (("latency", float(latency), "latency_s"), ("energy", float(energy), "energy_j")):
        if abs(got[key] - quoted) > tolerance * quoted:
            problems.append(f"quoted {name} {quoted:g}, the command gives {got[key]:.3g}")
    print(f"{'ok' if not problems else 'FAIL':5} quoted plan: depth {got['max_depth']}, {got['latency_s']:.3g} s, "
          f"{got['energy_j']:.3g} J (README: {depth}, {latency} s, {energy} J)", file=out)
    return [f"README.md: `{command}`: {p}" for p in problems]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="markdown files (default: README.md and docs/*.md)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder the commands run from (default: a new "
                                                                   "temporary one)")
    parser.add_argument("--full", action="store_true", help="run the commands at their written size")
    parser.add_argument("--list", action="store_true", help="only print the commands found")
    parser.add_argument("--quotes", action="store_true", help="also rerun the README's quoted real-snapshot plan "
                                                              "(needs ../shared/data) and compare its numbers")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("FEDSPAN_SHARED_DATA") or REPO.parent / "shared" / "data"),
                        help="where the quoted TLE file lies (default $FEDSPAN_SHARED_DATA or ../shared/data)")
    args = parser.parse_args(argv)
    files = [f.resolve() for f in args.files] or [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    commands = [c for f in files for c in commands_of(f)]
    if args.list:
        for c in commands:
            print(f"{c.source}: {c.text}")
        return 0
    before = committed_digests()
    with tempfile.TemporaryDirectory(prefix="readme-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        failures = run(commands, workdir, args.full)
        if args.quotes:
            failures += check_quotes(workdir, args.data_dir)
    after = committed_digests()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        failures.append("committed files changed: " + ", ".join(changed))
    ran = sum(skip_reason(c.argv) is None for c in commands)
    print(f"{ran - len([f for f in failures if not f.startswith('committed')])} of {ran} commands ran as written"
          + ("" if args.full else " (smoke size)") + (f"; {len(failures)} problem(s)" if failures else ""))
    for failure in failures:
        print(f"- {failure.splitlines()[0]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
