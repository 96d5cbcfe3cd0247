"""The planner's answer: forest, resources, predicted costs, SCA history; JSON round-trip."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

_ARRAYS = ("parent", "roots", "cpu_hz", "tx_power_w", "local_steps", "batch_size", "idle_s")
_INTS = ("parent", "roots", "local_steps", "batch_size")


def _json_safe(value):
    """Numbers, lists and dicts only; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_safe(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclass
class SpanningPlan:
    """A spanning forest with K roots respecting degrees, per-satellite resources and predicted round costs."""

    parent: np.ndarray
    roots: np.ndarray
    cpu_hz: np.ndarray
    tx_power_w: np.ndarray
    local_steps: np.ndarray
    batch_size: np.ndarray
    idle_s: np.ndarray
    latency_s: float
    energy_j: float
    bound: float
    objective: float
    warm_start_objective: float
    history: list[dict] = field(default_factory=list)
    status: str = ""
    fallback: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    source: str = ""

    @property
    def num_trees(self) -> int:
        """Number of trees (roots) of the forest."""
        return len(self.roots)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary (lists, floats, strings)."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> SpanningPlan:
        """Inverse of `to_dict`."""
        kwargs = dict(data)
        for name in _ARRAYS:
            kwargs[name] = np.asarray(data[name], dtype=np.int64 if name in _INTS else float)
        return cls(**kwargs)
