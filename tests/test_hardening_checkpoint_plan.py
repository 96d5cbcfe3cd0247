"""Checkpoint fields checked after the checksum, plan provenance enforced (issue #25, items 4 and 6)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_run import run_cli
from fedspan.checkpoint import CheckpointError, SimulationState, load_checkpoint, save_checkpoint
from fedspan.metrics import RoundMetrics

FAST = ["--max-train", "300", "--max-test", "200"]


def _row(i: int, **kw) -> dict:
    row = RoundMetrics(round=i, time_s=10.0 * i, latency_s=1.0, idle_s=0.0, energy_j=1.0, cumulative_energy_j=i + 1.0,
                       test_accuracy=0.5, test_loss=1.0, train_loss=1.0, participating=2, available=2, messages=2,
                       num_roots=1).to_dict()
    row.update(kw)
    return row


def _record(i: int, **kw) -> dict:
    rec = {"round_index": i, "time_s": 10.0 * i, "latency_s": 1.0, "idle_s": 0.0, "compute_energy_j": [0.5, 0.5],
           "transmit_energy_j": [0.0, 0.0], "fault_extra_latency_s": 0.0, "fault_extra_energy_j": 0.0}
    rec.update(kw)
    return rec


def _state(rows: list[dict], records: list[dict] | None = None, next_round: int | None = None) -> SimulationState:
    return SimulationState(next_round=len(rows) if next_round is None else next_round, models=torch.ones(1, 3),
                           model_weight=np.ones(1), holder=np.zeros(2, np.int64), dead=np.zeros(2, bool),
                           energy_used_j=np.zeros(2), next_time_s=0.0, last_latency_s=0.0,
                           ledger={"num_satellites": 2, "records": records if records is not None else
                                   [_record(i) for i in range(len(rows))]}, metrics=rows)


def test_a_valid_checkpoint_still_loads(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.pt", _state([_row(0), _row(1, train_loss=math.nan)]), {"a": 1})
    state = load_checkpoint(path, {"a": 1})
    assert state.next_round == 2 and math.isnan(state.metrics[1]["train_loss"])


def _without(key: str) -> dict:
    row = _row(0)
    del row[key]
    return row


FORGED = [
    ("extra key", _state([_row(0, bogus=1)]), "metrics[0] has unknown keys 'bogus'"),
    ("missing key", _state([_without("test_loss")]), "metrics[0] lacks 'test_loss'"),
    ("text accuracy", _state([_row(0, test_accuracy="abc")]), "metrics[0].test_accuracy = 'abc' is not a number"),
    ("NaN accuracy", _state([_row(0, test_accuracy=math.nan)]), "metrics[0].test_accuracy = nan is NaN"),
    ("accuracy above 1", _state([_row(0, test_accuracy=3.0)]), "is outside [0, 1]"),
    ("infinite latency", _state([_row(0, latency_s=math.inf)]), "metrics[0].latency_s = inf is infinite"),
    ("negative count", _state([_row(0, messages=-2)]), "metrics[0].messages = -2 is not an integer >= 0"),
    ("boolean count", _state([_row(0, participating=True)]), "is not a number"),
    ("no rows for round 0", _state([], next_round=1), "0 metrics rows for next_round = 1"),
    ("a gap", _state([_row(0), _row(2)]), "metrics[1].round = 2"),
    ("ledger record without latency", _state([_row(0)], [{k: v for k, v in _record(0).items() if k != "latency_s"}]),
     "ledger record 0 lacks 'latency_s'"),
    ("ledger record with an extra key", _state([_row(0)], [_record(0, x=1)]), "ledger record 0 has unknown keys 'x'"),
    ("ledger energies of the wrong length", _state([_row(0)], [_record(0, compute_energy_j=[1.0])]),
     "compute_energy_j is not a list of 2 numbers"),
    ("ledger energy NaN", _state([_row(0)], [_record(0, transmit_energy_j=[0.0, math.nan])]), "finite and >= 0"),
    ("ledger round twice", _state([_row(0), _row(1)], [_record(0), _record(0)]), "round_index = 0 is not"),
    ("ledger round in the future", _state([_row(0)], [_record(5)]), "round_index = 5 is not"),
]


@pytest.mark.parametrize("name, state, message", FORGED, ids=[f[0] for f in FORGED])
def test_forged_checkpoints_with_a_right_checksum_are_refused(tmp_path, name, state, message):
    path = save_checkpoint(tmp_path / "checkpoint.pt", state, {"a": 1})  # a correct header and checksum
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, {"a": 1})
    assert message in str(info.value) and "checkpoint.pt: invalid checkpoint" in str(info.value)


def test_a_forged_checkpoint_in_a_run_folder_is_one_error_and_writes_nothing(tmp_path, capsys):
    args = ["run", "--strategy", "mst", "--rounds", "2", *FAST, "-o", str(tmp_path)]
    assert run_cli([*args[:4], "1", *args[5:]], capsys)[0] == 0
    good = load_checkpoint(tmp_path / "checkpoint.pt")
    good.metrics[0]["test_accuracy"] = "abc"
    from fedspan.checkpoint import _decode

    meta, _ = _decode(tmp_path / "checkpoint.pt", (tmp_path / "checkpoint.pt").read_bytes())
    save_checkpoint(tmp_path / "checkpoint.pt", good, meta["fingerprint"])
    before = (tmp_path / "metrics.csv").read_bytes()
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "metrics[0].test_accuracy = 'abc' is not a number" in err and "Traceback" not in err
    assert (tmp_path / "metrics.csv").read_bytes() == before


# --- plan provenance ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fedspan.cli import main

    out = tmp_path_factory.mktemp("plan")
    try:
        main(["plan", "--strategy", "mst", "--rounds", "1", "-o", str(out)])
    except SystemExit as exc:
        assert not exc.code
    return out / "plan.json"


@pytest.mark.parametrize("key", ["norad_ids", "names", "source", "start_utc"])
def test_a_plan_without_its_provenance_is_refused(tmp_path, capsys, plan_file, key):
    doc = json.loads(plan_file.read_text())
    del doc["constellation"][key]
    forged = tmp_path / "plan.json"
    forged.write_text(json.dumps(doc))
    code, _, err = run_cli(["run", "--plan", str(forged), "--rounds", "1", *FAST, "-o", str(tmp_path / "out")],
                           capsys)
    assert code in (1, 2) and f"constellation lacks '{key}'" in err and "Traceback" not in err


@pytest.mark.parametrize("key, value, message", [
    ("norad_ids", [1, 2], "constellation.norad_ids must be a list of"),
    ("names", None, "constellation.names must be a list of"),
])
def test_plan_provenance_has_one_entry_per_satellite(tmp_path, plan_file, key, value, message):
    from fedspan.horizon import PlanFileError, read_plan

    doc = json.loads(plan_file.read_text())
    doc["constellation"][key] = value
    forged = tmp_path / "plan.json"
    forged.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match=message):
        read_plan(forged)
    del doc["created_utc"]
    forged.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="the plan lacks 'created_utc'"):
        read_plan(forged)


def test_the_untouched_plan_still_replays(tmp_path, capsys, plan_file):
    code, _, err = run_cli(["run", "--plan", str(plan_file), "--rounds", "1", *FAST, "-o", str(tmp_path)], capsys)
    assert code == 0, err
