"""benchmarks/bench_memory.py: the fits it states in the README, and a child's own peak memory."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_memory  # noqa: E402


def test_fits_tell_linear_from_quadratic():
    sats = [30_000, 60_000, 100_000]
    linear = [0.5 + 6e-6 * n for n in sats]
    assert bench_memory.linear_fit(sats, linear) == pytest.approx((0.5, 6.0))
    assert bench_memory.log_log_slope(sats, [1e-9 * n for n in sats]) == pytest.approx(1.0)
    assert bench_memory.log_log_slope(sats, [1e-10 * n * n for n in sats]) == pytest.approx(2.0)
    assert math.isnan(bench_memory.log_log_slope([1], [1.0]))


def test_sizes_are_checked():
    assert bench_memory.parse_sizes("30000/200, 12") == [(30_000, 200), (12, 1)]
    with pytest.raises(ValueError, match="multiple"):
        bench_memory.parse_sizes("10/3")


def test_peak_is_the_childs_own():
    big = bench_memory.peak_rss([sys.executable, "-c", "b = bytearray(300_000_000); b[::4096] = b'x' * len(b[::4096])"],
                                timeout_s=60)
    small = bench_memory.peak_rss([sys.executable, "-c", "pass"], timeout_s=60)
    assert big["ok"] and small["ok"]
    assert big["peak_gb"] > 0.3 > small["peak_gb"]  # not the maximum over every child so far
    slow = bench_memory.peak_rss([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    assert not slow["ok"] and slow["wall_s"] < 20
