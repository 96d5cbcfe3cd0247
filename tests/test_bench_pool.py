"""The benchmark task pool: results come back, errors are reported, and a worker killed from outside
does not take the other tasks with it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from comparison import run_tasks  # noqa: E402


def square(x: int) -> dict:
    return {"tag": "t", "x": x, "y": x * x}


def die(_: int) -> dict:
    os._exit(9)  # what the out-of-memory killer does to a worker, as far as the pool can tell


def fail(x: int) -> dict:
    raise ValueError(f"bad {x}")


class PickyError(ValueError):
    """Like some library errors: its __init__ needs two arguments, so it cannot be unpickled."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def picky(x: int) -> dict:
    raise PickyError("/data", f"no file {x}")


def test_pool_survives_a_dying_worker_and_reports_errors():
    seen = []
    tasks = [(square, i, 1.0) for i in range(6)] + [(die, 99, 0.5), (fail, 7, 2.0), (picky, 55, 3.0)]
    results = run_tasks(tasks, workers=2, on_done=lambda arg, out, err: seen.append((arg, err)))
    assert sorted(r["y"] for r in results) == [i * i for i in range(6)]
    errors = dict(seen)
    assert errors[7] == "ValueError: bad 7" and "died three times" in errors[99]
    assert errors[55] == "PickyError: /data: no file 55"  # an unpicklable error does not break the pool
    assert len(seen) == len(tasks)  # every task reported exactly once


def test_serial_pool_matches_parallel():
    tasks = [(square, i, float(i)) for i in range(4)]
    serial = sorted(r["y"] for r in run_tasks(tasks, workers=1))
    assert serial == sorted(r["y"] for r in run_tasks(tasks, workers=2)) == [0, 1, 4, 9]
