"""One vocabulary: parse-time choices, config.toml accepted by every entry point, typed plan.json, its schema."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cli_run import run_cli
from fedspan.config import config_from_file, read_config
from fedspan.distributed import _config_from_file

FAST = ["--strategy-option", "sca_iters=1", "--strategy-option", "search_time_s=0.2"]


@pytest.mark.parametrize("option, valid", [
    ("--strategy", "fedspan"), ("--dataset", "digits"), ("--model", "mlp"), ("--partition", "dirichlet"),
    ("--link-policy", "grid"), ("--backend", "inprocess"), ("--preset", "iridium"), ("--schedule", "back-to-back"),
])
def test_bad_choices_fail_at_parse_time_listing_the_valid_ones(option, valid, tmp_path, capsys) -> None:
    code, out, err = run_cli(["run", option, "nope", "--rounds", "1", "-o", str(tmp_path / "x")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and option in err and "'nope'" in err and valid in err
    assert out == "" and not (tmp_path / "x").exists()  # no progress output, nothing written


def test_run_help_lists_strategies_and_flags_have_no_bool_label(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run_cli(["run", "--help"], capsys)
    assert code == 0
    assert "gossip" in out and "fedspan" in out and "<bool>" not in out and "--no-calibrate" in out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vocab")
    runs = {"plan": ["plan", "--rounds", "1", "--num-trees", "auto", "--weights", "1,0.1,0.2", "--schedule",
                     "back-to-back", *FAST],
            "run": ["run", "--rounds", "1", "--strategy", "mst", "--max-train", "200", "--faults", "[]"],
            "compare": ["compare", "--rounds", "1", "--strategies", "mst,bfs", "--max-train", "200"]}
    folders = {}
    from fedspan.cli import main

    for name, args in runs.items():
        folders[name] = root / name
        try:
            main([*args, "--preset", "small", "-o", str(folders[name])])
        except SystemExit as exc:  # pragma: no cover - a failure is shown here
            assert not exc.code, exc
    return folders


@pytest.mark.parametrize("writer", ["plan", "run", "compare"])
def test_every_config_toml_is_read_by_every_entry_point(writer, outputs, tmp_path, capsys) -> None:
    path = outputs[writer] / "config.toml"
    for command in ("plan", "run", "compare"):
        config = config_from_file(path, command)
        assert config.constellation == "small" and config.rounds == 1
    assert _config_from_file(path, None, None).backend == "distributed"  # torchrun -m fedspan.distributed
    code, _, err = run_cli(["plan", "--config", str(path), "--rounds", "1",
                            "-o", str(tmp_path / "p")], capsys)
    assert code == 0, err


def test_unknown_config_key_is_one_line_naming_it_and_the_valid_ones(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("num-trees = 2\nwarp-drive = 1\n")
    with pytest.raises(Exception, match="warp-drive.*valid: .*num-trees"):
        read_config(cfg, "run")
    code, _, err = run_cli(["run", "--config", str(cfg)], capsys)
    assert code == 2 and "warp-drive" in err and err.count("\n") == 1


def test_plan_json_options_are_typed_and_match_the_schema(outputs) -> None:
    import jsonschema

    doc = json.loads((outputs["plan"] / "plan.json").read_text())
    assert doc["options"]["num_trees"] == "auto" and doc["options"]["weights"] == [1, 0.1, 0.2]
    assert isinstance(doc["options"]["seed"], int) and "trees" not in doc["options"]
    schema = json.loads((Path(__import__("fedspan").__file__).parent / "schemas" / "plan.schema.json").read_text())
    jsonschema.validate(doc, schema)


def test_created_utc_is_utc(outputs) -> None:
    doc = json.loads((outputs["plan"] / "plan.json").read_text())
    stamp = doc["created_utc"]
    assert stamp.endswith(("Z", "+00:00"))
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).utcoffset() == timedelta(0)


def test_plan_schedule_reaches_the_planner(outputs, tmp_path, capsys) -> None:
    """On a cadence the plan spends the interval: more local steps, less energy than back to back, on time."""
    code, _, err = run_cli(["plan", "--rounds", "1", "--num-trees", "auto", "--weights", "1,0.1,0.2",
                            "--schedule", "cadence", *FAST, "-o", str(tmp_path / "cad")], capsys)
    assert code == 0, err
    cadence = json.loads((tmp_path / "cad" / "plan.json").read_text())
    b2b = json.loads((outputs["plan"] / "plan.json").read_text())
    assert cadence["options"]["schedule"] == "cadence" and b2b["options"]["schedule"] == "back-to-back"
    c, b = cadence["rounds"][0], b2b["rounds"][0]
    assert sum(c["local_steps"]) > sum(b["local_steps"]) and c["energy_j"] < b["energy_j"]
    assert b["latency_s"] < c["latency_s"] <= cadence["options"]["round_interval_s"]
