"""One JSON-safe conversion: NaN and infinities become null in every JSON file Fed-Span writes."""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path

import numpy as np

from fedspan.metrics import RoundMetrics, write_metrics
from optimization.jsonsafe import json_safe


class _Colour(Enum):
    RED = "red"


def test_non_finite_become_none_everywhere() -> None:
    value = {"a": float("nan"), "b": np.float32("inf"), "c": [-math.inf, (np.float64(1.5),)],
             2: np.array([1, 2]), "d": np.bool_(True), "e": _Colour.RED, "f": Path("x/y"), "g": "nan"}
    out = json_safe(value)
    assert out == {"a": None, "b": None, "c": [None, [1.5]], "2": [1, 2], "d": True, "e": "red",
                   "f": str(Path("x/y")), "g": "nan"}
    json.loads(json.dumps(out, allow_nan=False))  # strict JSON


def test_metrics_json_writes_null_for_nan(tmp_path: Path) -> None:
    row = RoundMetrics(round=0, time_s=0.0, latency_s=1.0, idle_s=0.0, energy_j=1.0, cumulative_energy_j=1.0,
                       test_accuracy=float("nan"), test_loss=float("inf"), train_loss=float("nan"), participating=0,
                       available=0, messages=0, num_roots=0)
    _, json_path = write_metrics(tmp_path, [row], summary={"final_accuracy": float("nan")})
    doc = json.loads(json_path.read_text())
    assert doc["summary"]["final_accuracy"] is None
    assert doc["rounds"][0]["test_accuracy"] is None and doc["rounds"][0]["test_loss"] is None
    assert "NaN" not in json_path.read_text() and '"nan"' not in json_path.read_text()
