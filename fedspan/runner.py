"""The round loop of a run: resume from the checkpoint, step, save after every round, stop at the target.

:func:`fedspan.simulation.run_simulation` locks the output folder and calls :func:`run_rounds`; the loop keeps
every completed round on disk, so an interrupted run resumes bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from fedspan.checkpoint import CHECKPOINT_NAME, CheckpointError, SimulationState, load_checkpoint, save_checkpoint
from fedspan.clock import EnergyLedger
from fedspan.config import SimulationConfig
from fedspan.metrics import RoundMetrics, append_metrics_row, write_metrics


@dataclass
class RunResult:
    """The outcome of a run."""

    config: SimulationConfig
    metrics: list[RoundMetrics]
    ledger: EnergyLedger
    models: torch.Tensor
    global_model: torch.Tensor
    output_files: list[Path]
    resumed_from_round: int = 0
    #: The fitted time-to-accuracy model (``ProgressModel.to_dict()``), None when the run planned with the bound.
    progress_model: dict[str, float] | None = None

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last round."""
        return self.metrics[-1].test_accuracy if self.metrics else float("nan")



def run_rounds(sim: Any, config: SimulationConfig, out: Path | None,
               progress: Callable[[int, int, RoundMetrics], None] | None,
               on_round: Callable[[RoundMetrics], None] | None, on_start: Callable[[int], None] | None) -> RunResult:
    """Step ``sim`` (a :class:`fedspan.simulation.Simulation`) from its checkpoint in ``out`` (if any) to the
    last round or the stop accuracy, saving the checkpoint and appending a metrics row after every round;
    the metrics files are rewritten on the way out, whatever ends the run."""
    ckpt_path = out / CHECKPOINT_NAME if out else None
    state = sim.initial_state()
    if ckpt_path is not None and config.resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, config.fingerprint(), stream=state.stream)
        if state.next_round > config.rounds:
            raise CheckpointError(f"{ckpt_path}: already has {state.next_round} rounds, more than rounds = "
                                  f"{config.rounds}")
    resumed = state.next_round
    ledger = EnergyLedger.from_dict(state.ledger)
    if on_start is not None:
        on_start(resumed)
    files: list[Path] = []
    if out is not None:  # the rounds so far, then one appended line per round
        write_metrics(out, [RoundMetrics(**m) for m in state.metrics], _summary(config, state, ledger))
    try:
        while state.next_round < config.rounds and not _target_reached(config, state):
            metrics = sim.step(state, ledger)
            if out is not None:
                save_checkpoint(ckpt_path, state, config.fingerprint())
                append_metrics_row(out, metrics)
            if progress is not None:
                progress(state.next_round, config.rounds, metrics)
            if on_round is not None:
                on_round(metrics)
    finally:
        rows = [RoundMetrics(**m) for m in state.metrics]
        if out is not None:
            files = list(write_metrics(out, rows, _summary(config, state, ledger)))
    return RunResult(config=config, metrics=rows, ledger=ledger, models=state.models,
                     global_model=sim.global_model(state), output_files=files, resumed_from_round=resumed,
                     progress_model=state.extra.get("progress_model"))


def _target_reached(config: SimulationConfig, state: SimulationState) -> bool:
    """Whether the run has a stop accuracy and its last round reached it (the run ends there)."""
    if config.stop_at_accuracy is None or not state.metrics:
        return False
    accuracy = state.metrics[-1]["test_accuracy"]
    return accuracy is not None and accuracy >= config.stop_at_accuracy


def _summary(config: SimulationConfig, state: SimulationState, ledger: EnergyLedger) -> dict[str, Any]:
    final = state.metrics[-1]["test_accuracy"] if state.metrics else None
    return {"strategy": config.strategy, "rounds_done": state.next_round, "total_energy_j": ledger.total_energy_j,
            "total_latency_s": ledger.total_latency_s, "final_accuracy": final, "config": config.to_dict(),
            "progress_model": state.extra.get("progress_model")}
