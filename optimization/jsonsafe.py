"""The one JSON-safe conversion every JSON file of Fed-Span goes through.

``json.dumps`` writes NaN and infinities as the bare words ``NaN``/``Infinity``, which strict JSON
readers (JavaScript, jq, most other languages) reject. Every writer (``plan.json``, ``metrics.json``,
the planner's ``Plan.to_dict`` and the benchmarks) therefore converts with :func:`json_safe` first:
**NaN, inf and -inf become ``None`` (JSON ``null``)**, never a string. It lives in ``optimization``
(which imports no other package) so that ``optimization``, ``fedspan`` and the benchmarks share it.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with numpy types, tuples, enums and paths made plain; NaN and +-inf become None.

    >>> json_safe({"a": np.float64("nan"), 1: (np.int64(2), float("inf")), "b": np.array([True])})
    {'a': None, '1': [2, None], 'b': [True]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    return value
