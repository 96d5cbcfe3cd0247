"""Peak memory of `fedspan constellation info` and `fedspan plan` against the number of satellites.

For each size a synthetic Walker-delta TLE file (53 deg, 550 km, ``T/P/1``) is written, then each command
runs in its own child process, forked from a fresh small Python, and its peak resident set size is read from
``os.wait4`` (the child's own ``ru_maxrss``: Linux carries the peak across fork and exec, so forking the
command from this process would count this process's peak too). The slope of log(peak) against
log(satellites) is fitted over the sizes: 1 is linear, above 1.15 is called superlinear.

    python benchmarks/bench_memory.py                       # 30k/200, 60k/200, 100k/400 (writes benchmarks/out/)
    python benchmarks/bench_memory.py --publish             # the same, into benchmarks/results/
    python benchmarks/bench_memory.py --sizes 2000/20,4000/40 --commands info   # a smoke run

``plan`` is the real planner path at its cheapest: one round, the default Fed-Span policy, and a short local
search (``--search-s``, default 2 s) so that the time per size is dominated by the work that scales.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from outfolder import add_output_options, output_folder  # noqa: E402
from orbits.tle import write_tle  # noqa: E402
from orbits.walker import WalkerSpec, walker_delta  # noqa: E402

DEFAULT_SIZES = "30000/200,60000/200,100000/400"
COMMANDS = ("info", "plan")
SUPERLINEAR = 1.15


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"T/P,T/P"`` -> [(satellites, planes), ...]; each T a positive multiple of its P."""
    sizes = []
    for item in text.split(","):
        total, _, planes = item.strip().partition("/")
        total_i, planes_i = int(total), int(planes or 1)
        if total_i < 1 or planes_i < 1 or total_i % planes_i:
            raise ValueError(f"size {item!r}: need T/P with T a positive multiple of P")
        sizes.append((total_i, planes_i))
    return sizes


def write_walker_file(path: Path, satellites: int, planes: int) -> None:
    """Write a 53 deg, 550 km Walker-delta ``satellites/planes/1`` shell as a 3-line TLE file."""
    write_tle(path, walker_delta(WalkerSpec(53.0, satellites, planes, 1, 550.0)))


#: Run in a fresh, small Python: fork, exec the command, report its own rusage. Linux carries a process's peak
#: RSS across fork and exec, so the command must not be forked from this (larger) process.
_WRAPPER = """
import os, signal, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.argv[2], sys.argv[2:])
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss(argv: list[str], timeout_s: float) -> dict[str, object]:
    """Run ``argv`` in a child process: its peak resident set size ``peak_gb`` in GB (10^9 bytes), its wall
    time ``wall_s`` in s, ``ok`` (exited 0) and the last line of its stderr; killed after ``timeout_s`` s."""
    begin = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, f"{timeout_s:g}", *argv], capture_output=True, text=True)
    wall_s = time.perf_counter() - begin
    code, maxrss_kib = (int(v) for v in done.stdout.split()[-2:])  # ru_maxrss is in KiB on Linux
    lines = done.stderr.strip().splitlines()
    return {"peak_gb": maxrss_kib * 1024 / 1e9, "wall_s": wall_s, "ok": code == 0, "exit": code,
            "stderr_tail": lines[-1] if lines else ""}


def command_argv(command: str, tle: Path, out: Path, search_s: float) -> list[str]:
    """The fedspan command line measured for ``command`` ('info' or 'plan') on the TLE file ``tle``."""
    fedspan = [sys.executable, "-m", "fedspan"]
    if command == "info":
        return fedspan + ["constellation", "info", str(tle)]
    return fedspan + ["plan", "--constellation", str(tle), "--rounds", "1", "-o", str(out),
                      "--strategy-option", f"search_time_s={search_s:g}"]


def log_log_slope(satellites: list[int], peaks_gb: list[float]) -> float:
    """Least-squares slope of log(peak memory) against log(satellites); nan below two sizes."""
    if len(satellites) < 2:
        return math.nan
    xs = [math.log(n) for n in satellites]
    ys = [math.log(p) for p in peaks_gb]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def linear_fit(satellites: list[int], peaks_gb: list[float]) -> tuple[float, float]:
    """Least-squares line peak = base + rate * satellites: (base in GB, rate in MB per 1,000 satellites)."""
    if len(satellites) < 2:
        return math.nan, math.nan
    mx, my = sum(satellites) / len(satellites), sum(peaks_gb) / len(peaks_gb)
    slope = sum((x - mx) * (y - my) for x, y in zip(satellites, peaks_gb)) / sum((x - mx) ** 2 for x in satellites)
    return my - slope * mx, slope * 1e6


def summarise(rows: list[dict[str, object]], commands: list[str]) -> dict[str, dict[str, float | None]]:
    """Per command, over its successful rows: the log-log slope and the linear fit (base GB, MB per 1,000)."""
    summary = {}
    for command in commands:
        done = [r for r in rows if r["command"] == command and r["ok"]]
        sats, peaks = [r["satellites"] for r in done], [r["peak_gb"] for r in done]
        base_gb, mb_per_1000 = linear_fit(sats, peaks)
        fit = {"log_log_slope": log_log_slope(sats, peaks), "base_gb": base_gb, "mb_per_1000_satellites": mb_per_1000}
        summary[command] = {k: (None if math.isnan(v) else v) for k, v in fit.items()}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma list of T/P Walker sizes (satellites/planes)")
    parser.add_argument("--commands", default=",".join(COMMANDS), help="comma list of: info, plan")
    parser.add_argument("--search-s", type=float, default=2.0, help="planner local-search seconds (plan)")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="kill a command after this many seconds")
    add_output_options(parser, "memory.json")
    args = parser.parse_args(argv)
    args.out = output_folder(parser, args)
    commands = [c.strip() for c in args.commands.split(",")]
    if set(commands) - set(COMMANDS):
        parser.error(f"--commands: choose from {', '.join(COMMANDS)}")
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        parser.error(f"--sizes: {exc}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        for satellites, planes in sizes:
            tle = Path(scratch) / f"walker-{satellites}.tle"
            write_walker_file(tle, satellites, planes)
            for command in commands:
                row = {"command": command, "satellites": satellites, "planes": planes,
                       **peak_rss(command_argv(command, tle, Path(scratch) / f"plan-{satellites}", args.search_s),
                                  args.timeout_s)}
                rows.append(row)
                print(f"{command:4s} {satellites:7d} sats ({planes} planes): {row['peak_gb']:.2f} GB peak, "
                      f"{row['wall_s']:.1f} s{'' if row['ok'] else ' FAILED: ' + row['stderr_tail']}", flush=True)
    summary = summarise(rows, commands)
    for command, fit in summary.items():
        slope = math.nan if fit["log_log_slope"] is None else fit["log_log_slope"]
        verdict = "superlinear" if slope > SUPERLINEAR else "linear or below"
        print(f"{command}: log-log slope {slope:.2f} ({verdict}); linear fit {fit['base_gb'] or math.nan:.2f} GB + "
              f"{fit['mb_per_1000_satellites'] or math.nan:.1f} MB per 1,000 satellites")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"rows": rows, "summary": summary, "search_s": args.search_s, "cpus": os.cpu_count()}
    (args.out / "memory.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"results: {args.out / 'memory.json'}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
