"""Atomic per-round checkpoints of a simulation, so an interrupted run resumes bit-identically.

A checkpoint holds everything the next round depends on: the models, which model each
satellite holds, dead satellites and spent energy, the ledger and metrics so far, the stateful
data stream, and the global numpy / torch / python RNG states. It is written to a temporary
file in the same folder and renamed over the old one, so a crash (or Ctrl-C) mid-write leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import io
import os
import pickle
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedspan.errors import FedSpanError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


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


def save_checkpoint(path: str | Path, state: SimulationState, fingerprint: dict[str, Any]) -> Path:
    """Write ``state`` atomically (temp file + rename) and return the path."""
    path = Path(path)
    payload = {"version": FORMAT_VERSION, "fingerprint": fingerprint, "rng": capture_rng_states(),
               "state": state.__dict__}
    buf = io.BytesIO()
    torch.save(payload, buf)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: cannot write checkpoint ({exc.strerror})") from None
    return path


def load_checkpoint(path: str | Path, fingerprint: dict[str, Any] | None = None) -> SimulationState:
    """Read a checkpoint; with ``fingerprint``, refuse one written by a different configuration.

    Restores the global RNG states as a side effect, so the run continues exactly.
    """
    path = Path(path)
    try:
        # Our own file: numpy arrays and the data stream need full unpickling.
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint here") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, AttributeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unknown checkpoint format (expected version {FORMAT_VERSION})")
    if fingerprint is not None and payload["fingerprint"] != fingerprint:
        theirs = payload["fingerprint"]
        diff = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
        raise CheckpointError(f"{path}: checkpoint belongs to a different configuration "
                              f"(differs in {', '.join(diff)}); use another output folder or remove it")
    restore_rng_states(payload["rng"])
    return SimulationState(**payload["state"])
