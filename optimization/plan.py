"""The planner's answer: forest, resources, predicted costs, SCA history; JSON round-trip."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum

import numpy as np

from optimization.jsonsafe import json_safe

_ARRAYS = ("parent", "roots", "cpu_hz", "tx_power_w", "local_steps", "batch_size", "idle_s")
_INTS = ("parent", "roots", "local_steps", "batch_size")


class PlanStatus(str, Enum):
    """How the planner ended (string-valued, like CVXPY's status constants; JSON writes the value)."""

    #: No start, SCA or search move improves the forest any further.
    LOCAL_OPTIMUM = "local_optimum"
    #: The local search ran out of its time budget; the best forest so far is returned.
    TIME_LIMIT = "time_limit"
    #: A replayed or externally supplied plan (not produced by `solve`).
    USER = "user"

    def __str__(self) -> str:
        return self.value


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
    status: PlanStatus | str = PlanStatus.LOCAL_OPTIMUM
    fallback: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Which phase produced the forest: "spt", "bfs", "bfs-centre", "distance-mst", "sca" or "search".
    source: str = ""
    #: Phases that failed or were cut short (an SCA solve that failed, a time limit), one line each.
    warnings: list[str] = field(default_factory=list)
    #: How the local steps and batch were chosen for time to accuracy (``KnobChoice.to_dict()`` on the final
    #: forest, plus the progress model); None when the bound in the objective chose them.
    knobs: dict | None = None

    @property
    def num_trees(self) -> int:
        """Number of trees (roots) of the forest."""
        return len(self.roots)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary (lists, floats, strings)."""
        return {f.name: json_safe(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> SpanningPlan:
        """Inverse of `to_dict`."""
        kwargs = dict(data)
        for name in _ARRAYS:
            kwargs[name] = np.asarray(data[name], dtype=np.int64 if name in _INTS else float)
        status = kwargs.get("status", PlanStatus.USER)
        kwargs["status"] = PlanStatus(status) if status in PlanStatus._value2member_map_ else status
        kwargs.setdefault("warnings", [])
        return cls(**kwargs)
