"""Checkpoints from untrusted folders: no code execution, checksums, finiteness, missing keys."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fedspan.checkpoint import CheckpointError, SimulationState, load_checkpoint, save_checkpoint
from fedspan.metrics import RoundMetrics

# A checkpoint of next_round = 1 holds round 0's metrics row (rows are checked for continuity).
ROUND_0 = RoundMetrics(round=0, time_s=0.0, latency_s=1.0, idle_s=0.0, energy_j=1.0, cumulative_energy_j=1.0,
                       test_accuracy=0.5, test_loss=1.0, train_loss=1.0, participating=2,
                       available=2, messages=2, num_roots=1).to_dict()


class Payload:
    """Pickles to ``os.system(command)``: what a hostile checkpoint would carry."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def small_state(**kw) -> SimulationState:
    base = dict(next_round=1, models=torch.ones(1, 3), model_weight=np.ones(1), holder=np.zeros(2, np.int64),
                dead=np.zeros(2, bool), energy_used_j=np.zeros(2), next_time_s=0.0, last_latency_s=0.0,
                ledger={"num_satellites": 2, "records": []}, metrics=[ROUND_0])
    base.update(kw)
    return SimulationState(**base)


def forge(path: Path, body_obj) -> Path:
    """A file with a valid header and checksum around an arbitrary torch.save body."""
    buf = io.BytesIO()
    torch.save(body_obj, buf)
    body = buf.getvalue()
    path.write_bytes(b"FEDSPAN-CHECKPOINT 2 " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    return path


@pytest.mark.parametrize("framing", ["old-format", "new-format"])
def test_pickle_payload_in_a_checkpoint_never_runs(tmp_path, framing):
    marker = tmp_path / "pwned"
    evil = {"version": 1, "fingerprint": Payload(f"touch {marker}")}
    path = tmp_path / "checkpoint.pt"
    if framing == "old-format":
        torch.save(evil, path)
    else:
        forge(path, {"meta": "{}", "tensors": evil})
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        load_checkpoint(path)
    assert not marker.exists()


def test_every_single_byte_flip_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.pt", small_state(), {"a": 1})
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    for pos in rng.choice(len(good), size=12, replace=False):
        data = bytearray(good)
        data[pos] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match="checkpoint.pt"):
            load_checkpoint(path, {"a": 1})
    path.write_bytes(good)
    assert load_checkpoint(path, {"a": 1}).next_round == 1


@pytest.mark.parametrize("field, value", [
    ("models", torch.tensor([[1.0, float("nan"), 0.0]])),
    ("energy_used_j", np.array([0.0, np.inf])),
    ("model_weight", np.array([-1.0])),
    ("holder", np.array([0, 7])),
])
def test_non_finite_or_out_of_range_state_is_refused(tmp_path, field, value):
    path = save_checkpoint(tmp_path / "checkpoint.pt", small_state(**{field: value}), {"a": 1})
    with pytest.raises(CheckpointError, match=f"checkpoint.pt: invalid checkpoint"):
        load_checkpoint(path)


def test_missing_keys_are_one_line_naming_the_file(tmp_path):
    path = forge(tmp_path / "checkpoint.pt", {"meta": json.dumps({"version": 2}), "tensors": {}})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "checkpoint.pt" in message and "'fingerprint'" in message and "\n" not in message
    torch.save({"version": 1}, path)  # the old format's shape: refused before any decoding
    with pytest.raises(CheckpointError, match="older format"):
        load_checkpoint(path)


def test_a_refused_checkpoint_leaves_the_rng_alone(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.pt", small_state(), {"a": 1})
    np.random.seed(5)
    expected = np.random.get_state()[1].copy()
    with pytest.raises(CheckpointError, match="different configuration"):
        load_checkpoint(path, {"a": 2})
    assert np.array_equal(np.random.get_state()[1], expected)
