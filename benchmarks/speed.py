"""Speed report: run the layer benchmarks (orbits, planner, training) and collect their in-run ratios.

The layer scripts print human-readable lines; every ratio they print ("488x faster",
"speed-up 12.3 x", "3.1x the fast path") is picked out together with its line and the section
header above it, so the report keeps the wording of the benchmark that measured it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
LAYER_BENCHMARKS = ("bench_orbits.py", "bench_planner.py", "bench_training.py")

# A measured ratio; a goal written as ">= 5x" is not one.
_RATIO = re.compile(r"(?<![<>]= )(?<![<>] )(?<![\w.,<>])(\d[\d,]*(?:\.\d+)?)\s*x(?![a-zA-Z\d])")
_SECTION = re.compile(r"^\s*==\s|^\S[^:]*:\s*N=\d+|^\d+ satellites,")


def parse_ratios(text: str) -> list[dict[str, Any]]:
    """Every ``<number>x`` ratio in a benchmark's output, with its line and the section it is in."""
    section = ""
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if _SECTION.match(line):
            section = stripped.strip("= ").strip()
        for match in _RATIO.finditer(stripped):
            found.append({"section": section, "line": stripped, "ratio": float(match.group(1).replace(",", ""))})
    return found


def run_benchmark(script: str, flags: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    """Run one layer benchmark as a subprocess and return its output, ratios and wall time."""
    path = BENCH_DIR / script
    record: dict[str, Any] = {"script": script, "flags": list(flags)}
    if not path.is_file():
        return {**record, "status": "missing", "error": f"{path} not found"}
    begin = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-u", str(path), *flags], capture_output=True, text=True,
                              timeout=timeout_s, cwd=BENCH_DIR.parent)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {**record, "status": f"timed out after {timeout_s:.0f} s", "wall_s": timeout_s,
                "stdout": out[-6000:], "ratios": parse_ratios(out)}
    wall = time.perf_counter() - begin
    status = "ok" if proc.returncode == 0 else f"exit code {proc.returncode}"
    return {**record, "status": status, "wall_s": wall, "stdout": proc.stdout[-6000:],
            "stderr_tail": proc.stderr[-1500:] if proc.returncode else "", "ratios": parse_ratios(proc.stdout)}


def speed_report(flags: dict[str, tuple[str, ...]], timeout_s: float = 600.0,
                 progress: Any = None) -> dict[str, Any]:
    """Run each layer benchmark in turn (never in parallel with each other: they time themselves)."""
    results = []
    for script in LAYER_BENCHMARKS:
        if progress is not None:
            progress(f"speed: {script} {' '.join(flags.get(script, ()))}")
        results.append(run_benchmark(script, flags.get(script, ()), timeout_s))
    return {"benchmarks": results}
