"""Per-round metrics of a run, written as CSV (one row per round) and JSON (rows + summary)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from fedspan.errors import FedSpanError
from fedspan.fileio import atomic_write_text, write_json


class MetricsError(FedSpanError):
    """A metrics file that cannot be written."""


@dataclass
class RoundMetrics:
    """What one round did and cost, and how good the model is afterwards."""

    round: int
    time_s: float  # simulated start of the round, seconds after the run's start
    latency_s: float
    idle_s: float
    energy_j: float
    cumulative_energy_j: float
    #: Test accuracy and mean cross-entropy of the model the satellites hold after the round; where a policy keeps
    #: several models, the mean over the live satellites of the model each holds (consensus_accuracy below).
    test_accuracy: float
    test_loss: float
    train_loss: float
    participating: int
    available: int
    messages: int
    num_roots: int
    fault_extra_latency_s: float = 0.0
    fault_extra_energy_j: float = 0.0
    faults: str = ""
    fallback: str = ""
    #: Data-weighted means over the participants of the local steps and mini-batch the round used.
    mean_local_steps: float = float("nan")
    mean_batch_size: float = float("nan")
    #: Loss on a fixed sample of the training data at the round's start and end, the squared norm of its
    #: gradient at the start, and the decrease the convergence bound guarantees from that gradient
    #: (optimization.bound.predicted_decrease with the run's constants, measured when calibrated).
    probe_loss_before: float = float("nan")
    probe_loss_after: float = float("nan")
    probe_grad_sq: float = float("nan")
    predicted_decrease: float = float("nan")
    observed_decrease: float = float("nan")  # probe_loss_before - probe_loss_after
    #: Batteries (hardware with a power system): the lowest state of charge after the round (fraction of
    #: capacity), how many satellites sat the round out because their battery could not pay for their share,
    #: and the energy by kind (J): static compute and link acquisition (parts of energy_j).
    min_state_of_charge: float = float("nan")
    mean_state_of_charge: float = float("nan")
    sat_out: int = 0
    static_energy_j: float = 0.0
    acquisition_energy_j: float = 0.0
    #: Data-weighted means over the participants of the CPU clock (Hz) and laser transmit power (W) the round
    #: used: with mean_local_steps and mean_batch_size, the knobs a policy actually turned.
    mean_cpu_hz: float = float("nan")
    mean_tx_power_w: float = float("nan")
    #: Energy (J) the round's faults did not spend (satellites that died stop spending): with
    #: fault_extra_energy_j, the energy they added (re-sends, wasted messages, longer repaired links), both >= 0,
    #: energy_j = planned + fault_extra_energy_j - fault_saved_energy_j.
    fault_saved_energy_j: float = 0.0
    #: Satellites whose battery ended the round below its depth-of-discharge floor (0 without batteries; planning
    #: with battery_planning="aware" keeps it 0 unless the bus alone drains a battery).
    battery_violations: int = 0
    #: Accuracy of the data-weighted average of the models where a policy keeps several (gossip, forests that do
    #: not mix); no satellite holds that model, so test_accuracy and test_loss are the means over the satellites of
    #: the model each holds (``Simulation.evaluate_held``). Equal to test_accuracy with one model.
    consensus_accuracy: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-safe apart from NaN, which JSON writers map to null)."""
        return asdict(self)


FIELDS = tuple(f.name for f in fields(RoundMetrics))


def _csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    # repr keeps every float bit-exact through the text file.
    csv.writer(buf, lineterminator="\n").writerow([repr(v) if isinstance(v, float) else v for v in values])
    return buf.getvalue()


def write_metrics(out_dir: str | Path, rows: list[RoundMetrics], summary: dict[str, Any] | None = None,
                  stem: str = "metrics") -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.json`` into ``out_dir`` (atomically); returns both paths."""
    out = Path(out_dir)
    try:
        csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
        text = _csv_line(list(FIELDS)) + "".join(_csv_line(list(row.to_dict().values())) for row in rows)
        atomic_write_text(csv_path, text, fsync=False)
        write_json(json_path, {"summary": summary or {}, "rounds": [r.to_dict() for r in rows]})
    except OSError as exc:
        raise MetricsError(f"{out}: cannot write metrics ({exc.strerror or exc})") from None
    return csv_path, json_path


def append_metrics_row(out_dir: str | Path, row: RoundMetrics, stem: str = "metrics") -> Path:
    """Append one round to ``<stem>.csv`` (written with its header by :func:`write_metrics` first).

    Costs one line per round however long the run, and leaves the file readable after SIGTERM or
    SIGKILL: at most the line being written is incomplete, and a resumed run rewrites the file
    from its checkpoint.
    """
    path = Path(out_dir) / f"{stem}.csv"
    try:
        with path.open("a", encoding="utf-8", newline="") as fh:
            if fh.tell() == 0:
                fh.write(_csv_line(list(FIELDS)))
            fh.write(_csv_line(list(row.to_dict().values())))
    except OSError as exc:
        raise MetricsError(f"{path}: cannot write metrics ({exc.strerror or exc})") from None
    return path
