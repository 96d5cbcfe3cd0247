"""The ``plan.json`` format: what ``fedspan plan`` writes and ``fedspan run --plan`` (the ``replay`` policy) reads.

Its own module so that the planner (``fedspan.horizon``) and the replay policy
(``fedspan.strategies.replay``) both import it and neither imports the other. A plan file is untrusted
input: :func:`read_plan` checks its structure (types, lengths, ranges, a forest) before anything uses it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from fedspan.aggregation import forest_levels
from fedspan.errors import FedSpanError
from fedspan.fileio import PLAN_MAX_BYTES, loads_json, read_or_raise, write_json
from optimization.jsonsafe import json_safe
from optimization.problem import TreeCount, parse_tree_count

if TYPE_CHECKING:
    from fedspan.scenario import Scenario

PLAN_FORMAT = "fedspan-plan/1"


class PlanFileError(FedSpanError):
    """A plan file that cannot be read or does not fit the scenario it is replayed on."""


@dataclass
class PlannedRound:
    """One planned round: topology, resources, predicted costs and solver statistics."""

    round: int
    time_s: float
    time_utc: str
    parent: list[int]
    roots: list[int]
    participating: list[bool]
    cpu_hz: list[float]
    tx_power_w: list[float]
    local_steps: list[int]
    batch_size: list[int]
    idle_s: float
    latency_s: float
    energy_j: float
    num_edges: int
    max_depth: int
    solver: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return json_safe(self.__dict__)


def write_plan(path: Path, planned: list[PlannedRound], scenario: Scenario, options: dict[str, Any]) -> Path:
    """Write ``plan.json`` (atomically: a crash never leaves half a file)."""
    path = Path(path)
    con = scenario.constellation
    doc = {
        "format": PLAN_FORMAT,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "constellation": {"source": str(scenario.config.constellation), "satellites": len(con),
                          "norad_ids": [int(x) for x in con.norad_ids], "names": list(con.names),
                          "start_utc": scenario.start.isoformat()},
        "options": json_safe(options),
        "rounds": [p.to_dict() for p in planned],
    }
    return write_json(path, doc)


class PlanWriter:
    """Keeps ``plan.json`` current while rounds are planned, at a linear total cost.

    Rewriting the whole file after every round costs O(rounds^2) over a long horizon. The
    writer rewrites it after the first round and then only when at least ``max(min_interval_s,
    last write time / share)`` has passed, so writing takes at most about ``share`` of the
    run; :meth:`flush` writes the rest (at the end, or on Ctrl-C).
    """

    def __init__(self, path: Path, scenario: Scenario, options: dict[str, Any], share: float = 0.1,
                 min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.scenario, self.options = Path(path), scenario, options
        self.share, self.min_interval_s, self.clock = share, min_interval_s, clock
        self.writes = 0
        self._written_rounds = -1
        self._next_due = -math.inf

    def update(self, planned: list[PlannedRound]) -> bool:
        """Write if a rewrite is due; returns whether it wrote."""
        if self.clock() < self._next_due:
            return False
        self._write(planned)
        return True

    def flush(self, planned: list[PlannedRound]) -> Path:
        """Write now unless the file already holds every round of ``planned``."""
        if self._written_rounds != len(planned):
            self._write(planned)
        return self.path

    def _write(self, planned: list[PlannedRound]) -> None:
        started = self.clock()
        write_plan(self.path, planned, self.scenario, self.options)
        ended = self.clock()
        self.writes += 1
        self._written_rounds = len(planned)
        self._next_due = ended + max(self.min_interval_s, (ended - started) / self.share)


def read_plan(path: Path) -> dict[str, Any]:
    """Read and check a ``plan.json`` written by :func:`write_plan`."""
    path = Path(path)
    data = read_or_raise(path, PLAN_MAX_BYTES, PlanFileError, "plan file")
    try:
        doc = loads_json(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFileError(f"{path}: not a JSON plan file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanFileError(f"{path}: not a Fed-Span plan (expected format '{PLAN_FORMAT}')")
    missing = [k for k in ("created_utc", "constellation", "options", "rounds") if k not in doc]
    if missing:  # what plan.schema.json requires, the reader requires
        raise PlanFileError(f"{path}: the plan lacks {', '.join(repr(k) for k in missing)}")
    con = doc.get("constellation")
    if not isinstance(con, dict) or "satellites" not in con:
        raise PlanFileError(f"{path}: missing 'constellation' with its number of 'satellites'")
    n = con["satellites"]
    if not _is_int(n) or n < 1:
        raise PlanFileError(f"{path}: constellation.satellites = {n!r} is not a positive integer")
    _check_provenance(path, con, n)
    rounds = doc.get("rounds")
    if not isinstance(rounds, list) or not rounds:
        raise PlanFileError(f"{path}: the plan has no rounds")
    options = doc.get("options", {})
    if not isinstance(options, dict):
        raise PlanFileError(f"{path}: 'options' is not a table")
    planned_trees(path, options)
    seen: set[int] = set()
    for i, rec in enumerate(rounds):
        _check_round(path, i, rec, n)
        if rec["round"] in seen:
            raise PlanFileError(f"{path}: round {rec['round']} is planned twice")
        seen.add(rec["round"])
    return doc


def _check_provenance(path: Path, con: dict[str, Any], n: int) -> None:
    """The constellation a plan was made for: without its NORAD ids and names a replay could not tell a foreign one."""
    missing = [k for k in ("source", "norad_ids", "names", "start_utc") if k not in con]
    if missing:
        raise PlanFileError(f"{path}: constellation lacks {', '.join(repr(k) for k in missing)}, which say which "
                            f"satellites the plan is for")
    for key, ok, what in (("norad_ids", _is_int, "integers"), ("names", lambda v: isinstance(v, str), "strings")):
        values = con[key]
        if not isinstance(values, list) or len(values) != n or not all(ok(v) for v in values):
            raise PlanFileError(f"{path}: constellation.{key} must be a list of {n} {what} (one per satellite)")
    for key in ("source", "start_utc"):
        if not isinstance(con[key], str):
            raise PlanFileError(f"{path}: constellation.{key} = {con[key]!r} is not text")


def planned_trees(path: Path, options: dict[str, Any]) -> TreeCount:
    """The plan's tree count ``options.num_trees`` (``trees`` in older plans): an integer >= 1 or "auto"."""
    key = "num_trees" if "num_trees" in options else "trees"
    try:
        return parse_tree_count(options.get(key, 1))
    except ValueError as exc:
        raise PlanFileError(f"{path}: options.{key}: {exc}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -2**62 < value < 2**62


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_ROUND_LISTS = ("parent", "participating", "cpu_hz", "tx_power_w", "local_steps", "batch_size")


def _check_round(path: Path, i: int, rec: Any, n: int) -> None:
    """Types, lengths and ranges of one planned round; the parent array must be a forest."""
    if not isinstance(rec, dict):
        raise PlanFileError(f"{path}: rounds[{i}] is not a table")
    missing = [k for k in ("round", "time_s", *_ROUND_LISTS) if k not in rec]
    if missing:
        raise PlanFileError(f"{path}: rounds[{i}] lacks {', '.join(repr(k) for k in missing)}")
    where = f"{path}: round {rec['round']!r}"
    if not _is_int(rec["round"]) or rec["round"] < 0:
        raise PlanFileError(f"{where}: 'round' must be an integer >= 0")
    for key in ("time_s", "idle_s"):
        if key in rec and (not _is_number(rec[key]) or rec[key] < 0):
            raise PlanFileError(f"{where}: {key} = {rec[key]!r} must be a finite number >= 0")
    for key in _ROUND_LISTS:
        if not isinstance(rec[key], list) or len(rec[key]) != n:
            size = len(rec[key]) if isinstance(rec[key], list) else "no"
            raise PlanFileError(f"{where}: '{key}' has {size} entries for {n} satellites")
    checks = {"parent": (_is_int, "an integer satellite index or -1"),
              "participating": (lambda v: isinstance(v, bool), "true or false"),
              "local_steps": (_is_int, "an integer"), "batch_size": (_is_int, "an integer"),
              "cpu_hz": (_is_number, "a finite number"), "tx_power_w": (_is_number, "a finite number")}
    for key, (ok, what) in checks.items():
        bad = next((j for j, v in enumerate(rec[key]) if not ok(v)), None)
        if bad is not None:
            raise PlanFileError(f"{where}: {key}[{bad}] = {rec[key][bad]!r} is not {what}")
    parent = np.asarray(rec["parent"], dtype=np.int64)
    bad = np.flatnonzero((parent < -1) | (parent >= n) | (parent == np.arange(n)))
    if len(bad):
        j = int(bad[0])
        raise PlanFileError(f"{where}: parent[{j}] = {int(parent[j])} is not -1 or another satellite in 0..{n - 1}")
    for key, low in (("cpu_hz", 0.0), ("tx_power_w", 0.0)):
        values = np.asarray(rec[key], dtype=float)
        if (values <= low).any():
            j = int(np.flatnonzero(values <= low)[0])
            raise PlanFileError(f"{where}: {key}[{j}] = {float(values[j])!r} must be > 0")
    for key in ("local_steps", "batch_size"):
        values = np.asarray(rec[key], dtype=np.int64)
        if (values < 1).any():
            j = int(np.flatnonzero(values < 1)[0])
            raise PlanFileError(f"{where}: {key}[{j}] = {int(values[j])} must be >= 1")
    try:
        forest_levels(parent)
    except FedSpanError as exc:
        raise PlanFileError(f"{where}: the parent array is not a forest ({exc})") from None
