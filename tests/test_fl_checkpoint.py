"""Checkpoints: atomic writes, bit-identical resume after an interruption, config mismatch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedspan.checkpoint import (CHECKPOINT_NAME, CheckpointError, SimulationState, load_checkpoint,
                                save_checkpoint)
from fedspan.simulation import SimulationConfig, run_simulation
from fedspan.metrics import RoundMetrics

# A checkpoint of next_round = 1 holds round 0's metrics row (rows are checked for continuity).
ROUND_0 = RoundMetrics(round=0, time_s=0.0, latency_s=1.0, idle_s=0.0, energy_j=1.0, cumulative_energy_j=1.0,
                       test_accuracy=0.5, test_loss=1.0, train_loss=1.0, participating=2,
                       available=2, messages=2, num_roots=1).to_dict()


def config(out, **kw):
    base = dict(strategy="mst", rounds=4, lr=0.1, partition="regional", fault_rate=0.03, seed=11,
                output_dir=str(out))
    base.update(kw)
    return SimulationConfig(**base)


class Interrupt:
    """Simulates Ctrl-C after ``after`` completed rounds."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, metrics) -> None:
        if metrics.round + 1 == self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("strategy", ["mst", "gossip"])
def test_interrupted_run_resumes_bit_identically(tmp_path, strategy):
    straight = run_simulation(config(tmp_path / "a", strategy=strategy))
    with pytest.raises(KeyboardInterrupt):
        run_simulation(config(tmp_path / "b", strategy=strategy), on_round=Interrupt(2))
    # Ctrl-C kept the completed rounds: checkpoint and metrics files are there.
    partial = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert len(partial) == 1 + 2
    resumed = run_simulation(config(tmp_path / "b", strategy=strategy))
    assert resumed.resumed_from_round == 2
    assert torch.equal(resumed.models, straight.models)
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()
    assert resumed.ledger.to_dict() == straight.ledger.to_dict()


def test_resume_refuses_a_different_configuration(tmp_path):
    run_simulation(config(tmp_path, rounds=1))
    with pytest.raises(CheckpointError, match="lr"):
        run_simulation(config(tmp_path, rounds=2, lr=0.2))
    # Asking for more rounds than the checkpoint holds extends the run.
    assert len(run_simulation(config(tmp_path, rounds=2)).metrics) == 2


def test_checkpoint_write_is_atomic_and_corrupt_files_are_named(tmp_path, monkeypatch):
    path = tmp_path / CHECKPOINT_NAME
    state = SimulationState(next_round=1, models=torch.ones(1, 3), model_weight=np.ones(1), holder=np.zeros(2, int),
                            dead=np.zeros(2, bool), energy_used_j=np.zeros(2), next_time_s=0.0, last_latency_s=0.0,
                            ledger={"num_satellites": 2, "records": []}, metrics=[ROUND_0])
    save_checkpoint(path, state, {"a": 1})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("fedspan.fileio.os.replace", boom)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint(path, SimulationState(**{**state.__dict__, "next_round": 2}), {"a": 1})
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
    monkeypatch.undo()
    assert load_checkpoint(path, {"a": 1}).next_round == 1
    path.write_bytes(before[: len(before) // 2])
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
