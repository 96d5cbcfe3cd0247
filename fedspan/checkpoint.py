"""Atomic, checksummed per-round checkpoints of a simulation, safe to load from untrusted folders.

A checkpoint holds everything the next round depends on: the models, which model each
satellite holds, dead satellites and spent energy, the ledger and metrics so far, the stateful
data stream, and the global numpy / torch / python RNG states. It is written through
:func:`fedspan.fileio.atomic_write_bytes`, so a crash (or Ctrl-C) mid-write leaves the previous
checkpoint intact.

Format 2 (no pickle of Python objects anywhere):

    FEDSPAN-CHECKPOINT 2 <sha256 of the body, hex>\n
    <body: torch.save({"meta": JSON text, "tensors": {name: tensor}})>

Loading checks the header and the SHA-256 before anything is decoded, decodes the body with
``torch.load(weights_only=True)`` (tensors, strings and containers only: a crafted file cannot
run code), and then checks every field: keys, types, shapes, index ranges and finiteness. Any
failure is one :class:`CheckpointError` line that names the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedspan.errors import FedSpanError
from fedspan.fileio import CHECKPOINT_MAX_BYTES, atomic_write_bytes, loads_json, read_or_raise

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 2
_MAGIC = b"FEDSPAN-CHECKPOINT"
_STATE_TENSORS = ("models", "model_weight", "holder", "dead", "energy_used_j")


class CheckpointError(FedSpanError):
    """A checkpoint that cannot be written, read, or does not belong to this configuration."""


@dataclass
class SimulationState:
    """The mutable state of a run between two rounds."""

    next_round: int
    models: torch.Tensor  # (num_models, P)
    model_weight: np.ndarray  # (num_models,) data weight behind each model (global-model average)
    holder: np.ndarray  # (N,) model id each satellite holds
    dead: np.ndarray  # (N,) bool
    energy_used_j: np.ndarray  # (N,)
    next_time_s: float  # earliest start of the next round
    last_latency_s: float
    ledger: dict[str, Any]  # EnergyLedger.to_dict()
    metrics: list[dict[str, Any]]  # RoundMetrics dicts
    stream: Any = None  # the regional data stream (has its own RNG), or None
    extra: dict[str, Any] = field(default_factory=dict)


def capture_rng_states() -> dict[str, Any]:
    """The process-global RNG states (numpy legacy, torch CPU, python)."""
    return {"numpy": np.random.get_state(), "torch": torch.get_rng_state(), "python": random.getstate()}


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_states`."""
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])


def _as_tensor(value: Any) -> torch.Tensor:
    return value.detach().cpu().clone() if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))


def _encode(state: SimulationState, fingerprint: dict[str, Any]) -> bytes:
    """Header line + torch.save body of tensors and one JSON string."""
    rng = capture_rng_states()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = rng["numpy"]
    py_version, py_state, py_gauss = rng["python"]
    tensors = {name: _as_tensor(getattr(state, name)) for name in _STATE_TENSORS}
    tensors["rng_torch"] = rng["torch"].clone()
    tensors["rng_numpy_keys"] = torch.from_numpy(np.asarray(np_keys, dtype=np.int64))
    stream = None
    if state.stream is not None:
        stream_state = state.stream.state_dict()
        for key in ("sat", "sample", "arrival"):
            tensors[f"stream_{key}"] = torch.from_numpy(np.asarray(stream_state[key]).copy())
        stream = {"time_s": stream_state["time_s"], "rng": stream_state["rng"]}
    meta = {"version": FORMAT_VERSION, "fingerprint": fingerprint, "next_round": int(state.next_round),
            "next_time_s": float(state.next_time_s), "last_latency_s": float(state.last_latency_s),
            "ledger": state.ledger, "metrics": state.metrics, "extra": state.extra, "stream": stream,
            "rng": {"numpy": [np_name, int(np_pos), int(np_has_gauss), float(np_gauss)],
                    "python": [py_version, list(py_state), py_gauss]}}
    buf = io.BytesIO()
    torch.save({"meta": json.dumps(meta, default=_json_default), "tensors": tensors}, buf)
    body = buf.getvalue()
    return b"%s %d %s\n" % (_MAGIC, FORMAT_VERSION, hashlib.sha256(body).hexdigest().encode()) + body


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def save_checkpoint(path: str | Path, state: SimulationState, fingerprint: dict[str, Any]) -> Path:
    """Write ``state`` atomically (temp file + rename) and return the path."""
    path = Path(path)
    data = _encode(state, fingerprint)
    try:
        return atomic_write_bytes(path, data)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write checkpoint ({exc.strerror or exc})") from None


def _decode(path: Path, data: bytes) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Check header and checksum, then decode the body without unpickling any Python object."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: {why}; remove it or use another output folder (or --no-resume)")

    if not data.startswith(_MAGIC):
        if data.startswith(b"PK"):
            raise bad("checkpoint of an older format (pickled Python objects, not loaded for safety)")
        raise bad("not a Fed-Span checkpoint (bad header)")
    header, _, body = data.partition(b"\n")
    parts = header.split(b" ")
    if len(parts) != 3 or parts[1] != str(FORMAT_VERSION).encode() or len(parts[2]) != 64:
        raise bad(f"unknown checkpoint format (expected version {FORMAT_VERSION})")
    if hashlib.sha256(body).hexdigest().encode() != parts[2]:
        raise bad("checksum mismatch: the file is corrupt or was modified")
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is one line naming the file
        raise bad(f"not a readable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), str) \
            or not isinstance(payload.get("tensors"), dict):
        raise bad("not a readable checkpoint (expected 'meta' and 'tensors')")
    try:
        meta = loads_json(payload["meta"])
    except json.JSONDecodeError as exc:
        raise bad(f"not a readable checkpoint (meta: {exc})") from None
    tensors = payload["tensors"]
    if not isinstance(meta, dict) or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise bad("not a readable checkpoint (bad 'meta' or 'tensors')")
    return meta, tensors


def _require(path: Path, mapping: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(repr(k) for k in missing)}{where}; "
                              f"remove it or use another output folder")


def _validate(path: Path, meta: dict[str, Any], t: dict[str, torch.Tensor]) -> None:
    """Keys, shapes, ranges and finiteness of a decoded checkpoint."""
    _require(path, meta, ("version", "fingerprint", "next_round", "next_time_s", "last_latency_s", "ledger",
                          "metrics", "rng", "stream"), "")
    _require(path, t, (*_STATE_TENSORS, "rng_torch", "rng_numpy_keys"), " (tensors)")

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: invalid checkpoint: {why}")

    if meta["version"] != FORMAT_VERSION:
        raise bad(f"version {meta['version']!r}, expected {FORMAT_VERSION}")
    models, weight, holder, dead, energy = (t[k] for k in _STATE_TENSORS)
    if models.ndim != 2 or not models.is_floating_point() or models.shape[0] < 1:
        raise bad(f"'models' has shape {tuple(models.shape)} and dtype {models.dtype}")
    if not torch.isfinite(models).all():
        raise bad("the models hold NaN or infinite parameters")
    n = holder.shape[0] if holder.ndim == 1 else -1
    if n < 1 or dead.shape != (n,) or energy.shape != (n,) or weight.shape != (models.shape[0],):
        raise bad(f"inconsistent shapes (holder {tuple(holder.shape)}, dead {tuple(dead.shape)}, energy "
                  f"{tuple(energy.shape)}, model_weight {tuple(weight.shape)}, models {tuple(models.shape)})")
    if holder.is_floating_point() or holder.min() < 0 or holder.max() >= models.shape[0]:
        raise bad(f"'holder' must be model ids in [0, {models.shape[0]})")
    for name, value in (("model_weight", weight), ("energy_used_j", energy)):
        if not torch.isfinite(value).all() or (value < 0).any():
            raise bad(f"'{name}' must be finite and >= 0")
    if not isinstance(meta["next_round"], int) or meta["next_round"] < 0:
        raise bad(f"next_round = {meta['next_round']!r} is not a round count")
    for key in ("next_time_s", "last_latency_s"):
        if not isinstance(meta[key], (int, float)) or not math.isfinite(meta[key]) or meta[key] < 0:
            raise bad(f"{key} = {meta[key]!r} must be a finite number >= 0")
    if not isinstance(meta["metrics"], list) or not all(isinstance(m, dict) for m in meta["metrics"]):
        raise bad("'metrics' is not a list of rows")
    ledger = meta["ledger"]
    if not isinstance(ledger, dict) or ledger.get("num_satellites") != n or not isinstance(ledger.get("records"), list):
        raise bad("the energy ledger does not match the satellites")
    if not isinstance(meta["fingerprint"], dict):
        raise bad("'fingerprint' is not a table")
    if not isinstance(meta.get("extra", {}), (dict, type(None))):
        raise bad("'extra' is not a table")
    # The checksum detects damage, not forgery: every row and record is checked here, before any is used.
    why = (_metrics_problem(meta["metrics"], meta["next_round"])
           or _ledger_problem(ledger["records"], n, meta["next_round"]) or _extra_problem(meta.get("extra") or {}, n))
    if why:
        raise bad(why)


#: Metrics columns and what a row of a real run holds in them. "count": an integer >= 0; "finite>=0",
#: "finite": a finite number; "fraction": a number in [0, 1]; "loss": a number >= 0 or +inf;
#: "loss|nan": the same or NaN (a round nobody trained in); "real|nan": a finite number or NaN.
_METRIC_KINDS = {"round": "count", "time_s": "finite>=0", "latency_s": "finite>=0", "idle_s": "finite>=0",
                 "energy_j": "finite>=0", "cumulative_energy_j": "finite>=0", "test_accuracy": "fraction",
                 "test_loss": "loss", "train_loss": "loss|nan", "participating": "count", "available": "count",
                 "messages": "count", "num_roots": "count", "fault_extra_latency_s": "finite",
                 "fault_extra_energy_j": "finite", "faults": "text", "fallback": "text",
                 "mean_local_steps": "real|nan", "mean_batch_size": "real|nan", "probe_loss_before": "real|nan",
                 "probe_loss_after": "real|nan", "probe_grad_sq": "real|nan", "predicted_decrease": "real|nan",
                 "observed_decrease": "real|nan", "min_state_of_charge": "real|nan", "mean_state_of_charge": "real|nan",
                 "sat_out": "count", "static_energy_j": "finite>=0", "acquisition_energy_j": "finite>=0",
                 "mean_cpu_hz": "real|nan", "mean_tx_power_w": "real|nan", "fault_saved_energy_j": "finite>=0",
                 "battery_violations": "count"}
#: Columns added since hardware profiles: a checkpoint written before them lacks them and gets their defaults.
_METRICS_ADDED = {"min_state_of_charge": float("nan"), "mean_state_of_charge": float("nan"), "sat_out": 0,
                  "static_energy_j": 0.0, "acquisition_energy_j": 0.0,
                  "mean_cpu_hz": float("nan"), "mean_tx_power_w": float("nan"), "fault_saved_energy_j": 0.0,
                  "battery_violations": 0}


def _value_problem(value: Any, kind: str) -> str | None:
    """Why ``value`` is not of metric kind ``kind`` (None when it is)."""
    if kind == "text":
        return None if isinstance(value, str) else "is not text"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "is not a number"
    if kind == "count":
        return None if isinstance(value, int) and value >= 0 else "is not an integer >= 0"
    if math.isnan(value):
        return None if kind.endswith("|nan") else "is NaN"
    if kind.startswith("loss"):
        return None if value >= 0 else "is negative"
    if math.isinf(value):
        return "is infinite"
    if kind == "fraction":
        return None if 0 <= value <= 1 else "is outside [0, 1]"
    return "is negative" if kind == "finite>=0" and value < 0 else None


def _metrics_problem(rows: list[dict[str, Any]], next_round: int) -> str | None:
    """Key sets, types, ranges and round continuity of the metrics rows (one per completed round)."""
    from fedspan.metrics import FIELDS

    if len(rows) != next_round:
        return f"{len(rows)} metrics rows for next_round = {next_round} (one per completed round expected)"
    expected = set(FIELDS)
    for i, row in enumerate(rows):
        for key, default in _METRICS_ADDED.items():
            row.setdefault(key, default)
        if set(row) != expected:
            extra, missing = sorted(set(row) - expected), sorted(expected - set(row))
            return (f"metrics[{i}] " + "; ".join(part for part in (
                f"has unknown keys {', '.join(map(repr, extra))}" if extra else "",
                f"lacks {', '.join(map(repr, missing))}" if missing else "") if part))
        for key, kind in _METRIC_KINDS.items():
            why = _value_problem(row[key], kind)
            if why:
                return f"metrics[{i}].{key} = {row[key]!r} {why}"
        if row["round"] != i:
            return f"metrics[{i}].round = {row['round']} (rounds must run 0, 1, 2, ... without gaps)"
    return None


_LEDGER_KEYS = {"round_index", "time_s", "latency_s", "idle_s", "compute_energy_j", "transmit_energy_j"}
_LEDGER_OPTIONAL = {"fault_extra_latency_s", "fault_extra_energy_j"}
_LEDGER_ARRAYS_OPTIONAL = ("static_energy_j", "acquisition_energy_j")  # energy by kind (hardware profiles)


def _ledger_problem(records: list[Any], n: int, next_round: int) -> str | None:
    """Key sets, types and ranges of the ledger records: at most one per completed round, in order."""
    last = -1
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            return f"ledger record {i} is not a table"
        missing = sorted(_LEDGER_KEYS - set(rec))
        extra = sorted(set(rec) - _LEDGER_KEYS - _LEDGER_OPTIONAL - set(_LEDGER_ARRAYS_OPTIONAL))
        if missing or extra:
            return f"ledger record {i} " + ("lacks " + ", ".join(map(repr, missing)) if missing
                                            else "has unknown keys " + ", ".join(map(repr, extra)))
        index = rec["round_index"]
        if isinstance(index, bool) or not isinstance(index, int) or not last < index < next_round:
            return f"ledger record {i}: round_index = {index!r} is not a completed round after {last}"
        last = index
        for key in ("time_s", "latency_s", "idle_s", *(_LEDGER_OPTIONAL & set(rec))):
            why = _value_problem(rec[key], "finite" if key.startswith("fault_extra") else "finite>=0")
            if why:
                return f"ledger record {i}: {key} = {rec[key]!r} {why}"
        for key in ("compute_energy_j", "transmit_energy_j", *(k for k in _LEDGER_ARRAYS_OPTIONAL if k in rec)):
            values = rec[key]
            if not isinstance(values, list) or len(values) != n \
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                return f"ledger record {i}: {key} is not a list of {n} numbers"
            array = np.asarray(values, dtype=float)
            if not np.isfinite(array).all() or (array < 0).any():
                return f"ledger record {i}: {key} must be finite and >= 0"
    return None


def _extra_problem(extra: Any, n: int) -> str | None:
    """The run's carried state between rounds: links up (pairs of satellites) and battery charges (J)."""
    if not isinstance(extra, dict):
        return "extra is not a table"
    links = extra.get("links_up", [])
    if not isinstance(links, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n
                                                        for v in p) for p in links):
        return f"extra.links_up must be a list of [a, b] satellite pairs in 0..{n - 1}"
    if "soc_j" in extra:
        soc = extra["soc_j"]
        if not isinstance(soc, list) or len(soc) != n or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in soc):
            return f"extra.soc_j must be {n} finite battery charges >= 0 (J)"
    if "progress_model" in extra:
        return _progress_problem(extra["progress_model"])
    return None


def _progress_problem(model: Any) -> str | None:
    """The fitted time-to-accuracy model: a table of step_exponent and batch_exponent, each in [0, 1]."""
    def exponent(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1

    if not isinstance(model, dict) or set(model) != {"step_exponent", "batch_exponent"} \
            or not all(exponent(v) for v in model.values()):
        return "extra.progress_model must be {step_exponent: number in [0, 1], batch_exponent: number in [0, 1]}"
    return None


def _rng_states(path: Path, meta: dict[str, Any], t: dict[str, torch.Tensor]) -> dict[str, Any]:
    try:
        np_name, np_pos, np_has_gauss, np_gauss = meta["rng"]["numpy"]
        py_version, py_state, py_gauss = meta["rng"]["python"]
        keys = t["rng_numpy_keys"].numpy()
        if keys.shape != (624,) or keys.min() < 0 or keys.max() >= 2**32 or t["rng_torch"].dtype != torch.uint8:
            raise ValueError("RNG state arrays of the wrong shape or range")
        states = {"numpy": (str(np_name), keys.astype(np.uint32), int(np_pos), int(np_has_gauss), float(np_gauss)),
                  "torch": t["rng_torch"], "python": (int(py_version), tuple(int(v) for v in py_state),
                                                      None if py_gauss is None else float(py_gauss))}
        # Try them before touching the process state, so a bad file changes nothing.
        np.random.RandomState().set_state(states["numpy"])
        random.Random().setstate(states["python"])
        torch.Generator().set_state(states["torch"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: invalid checkpoint: bad RNG state ({exc})") from None
    return states


def load_checkpoint(path: str | Path, fingerprint: dict[str, Any] | None = None,
                    stream: Any = None) -> SimulationState:
    """Read and check a checkpoint; with ``fingerprint``, refuse one written by a different configuration.

    ``stream`` is a freshly built data stream of the same configuration; the checkpoint's stream
    state is loaded into it. Restores the global RNG states as a side effect (only once every
    check passed), so the run continues exactly.
    """
    path = Path(path)
    # capped: a symlink to /dev/zero is refused, not read forever
    data = read_or_raise(path, CHECKPOINT_MAX_BYTES, CheckpointError, "checkpoint", missing="no checkpoint here")
    meta, tensors = _decode(path, data)
    _validate(path, meta, tensors)
    if fingerprint is not None:
        mine = json.loads(json.dumps(fingerprint, default=_json_default))
        theirs = meta["fingerprint"]
        if theirs != mine:
            diff = sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k))
            if diff == ["rounds"]:
                raise CheckpointError(f"{path}: checkpoint was written by a run of rounds = {theirs['rounds']} and this "
                                      f"policy plans with the number of rounds, so continuing it to rounds = "
                                      f"{mine['rounds']} would not equal a straight run; use another output folder "
                                      f"or --no-resume")
            raise CheckpointError(f"{path}: checkpoint belongs to a different configuration "
                                  f"(differs in {', '.join(diff)}); use another output folder or remove it")
    if (meta["stream"] is None) != (stream is None):
        raise CheckpointError(f"{path}: invalid checkpoint: it {'lacks' if meta['stream'] is None else 'holds'} "
                              f"a data stream state, the configuration {'has' if stream is not None else 'has no'} "
                              f"stream")
    if stream is not None:
        _require(path, tensors, ("stream_sat", "stream_sample", "stream_arrival"), " (stream tensors)")
        try:
            stream.load_state_dict({"sat": tensors["stream_sat"].numpy(), "sample": tensors["stream_sample"].numpy(),
                                    "arrival": tensors["stream_arrival"].numpy(), **meta["stream"]})
        except (FedSpanError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: invalid checkpoint: {exc}") from None
    states = _rng_states(path, meta, tensors)
    restore_rng_states(states)
    return SimulationState(
        next_round=meta["next_round"], models=tensors["models"], model_weight=tensors["model_weight"].numpy(),
        holder=tensors["holder"].numpy().astype(np.int64), dead=tensors["dead"].numpy().astype(bool),
        energy_used_j=tensors["energy_used_j"].numpy(), next_time_s=float(meta["next_time_s"]),
        last_latency_s=float(meta["last_latency_s"]), ledger=meta["ledger"], metrics=meta["metrics"],
        stream=stream, extra=dict(meta.get("extra") or {}))
