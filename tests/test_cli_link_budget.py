"""The link regime from the command line: laser rate cap, transmit power, aperture and payload size."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from cli_run import run_cli
from fedspan.simulation import SimulationConfig, SimulationError, build_scenario, link_params

FAST = ["--strategy-option", "sca_iters=1", "--strategy-option", "search_time_s=0.2"]




def test_plan_records_the_link_budget_and_a_bigger_payload_costs_more(tmp_path: Path, capsys) -> None:
    base, big = tmp_path / "base", tmp_path / "big"
    # Back to back, so the planner keeps rounds short and the payload's share shows in the latency.
    code, _, err = run_cli(["plan", "--preset", "small", "--rounds", "1", *FAST, "--schedule", "back-to-back",
                            "-o", str(base)], capsys)
    assert code == 0, err
    code, _, err = run_cli(["plan", "--preset", "small", "--rounds", "1", *FAST, "--schedule", "back-to-back",
                            "--model-bits", "1e9",
                            "--rate-cap", "1e9", "--tx-power", "3", "--aperture", "0.12", "-o", str(big)], capsys)
    assert code == 0, err
    doc = json.loads((big / "plan.json").read_text())
    opts = doc["options"]
    assert opts["model_bits"] == 1e9 and opts["rate_cap_bps"] == 1e9
    assert opts["tx_power_w"] == 3.0 and opts["aperture_m"] == 0.12
    echoed = (big / "config.toml").read_text()
    assert "model-bits = 1000000000.0" in echoed and "rate-cap-bps = 1000000000.0" in echoed
    assert "tx-power-w = 3.0" in echoed and "aperture-m = 0.12" in echoed
    default = json.loads((base / "plan.json").read_text())
    assert default["options"]["rate_cap_bps"] == 1e10 and default["options"]["model_bits"] < 1e7
    # 1 Gbit over links capped at 1 Gbit/s: at least one second per hop against milliseconds by default.
    assert doc["rounds"][0]["latency_s"] > 1.0 > default["rounds"][0]["latency_s"]


@pytest.mark.parametrize(("option", "value"), [("--rate-cap", "-1"), ("--rate-cap", "inf"), ("--tx-power", "nan"),
                                               ("--aperture", "0"), ("--model-bits", "-5")])
def test_bad_link_values_are_one_line_usage_errors(option: str, value: str, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(["plan", "--preset", "small", "--rounds", "1", option, value, "-o", str(tmp_path / "x")],
                           capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and option in lines[0] and "finite number > 0" in lines[0]
    assert not (tmp_path / "x").exists()


def test_run_uses_the_payload_for_the_clock_but_trains_the_small_model(tmp_path: Path, capsys) -> None:
    rows = {}
    for name, extra in (("base", []), ("big", ["--model-bits", "1e8", "--rate-cap", "1e8"])):
        out = tmp_path / name
        code, _, err = run_cli(["run", "--preset", "small", "--rounds", "1", "--strategy", "mst", "--max-train", "300",
                                *extra, "-o", str(out)], capsys)
        assert code == 0, err
        rows[name] = list(csv.DictReader((out / "metrics.csv").open()))[0]
    assert float(rows["big"]["latency_s"]) > 10 * float(rows["base"]["latency_s"])
    assert 0.0 <= float(rows["big"]["test_accuracy"]) <= 1.0
    assert "model-bits = 100000000.0" in (tmp_path / "big" / "config.toml").read_text()


def test_compare_accepts_the_link_options(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(["compare", "--preset", "small", "--rounds", "1", "--strategies", "mst,bfs",
                            "--max-train", "200", "--rate-cap", "5e9", "--tx-power", "1.5", "-o", str(tmp_path)], capsys)
    assert code == 0, err
    echoed = (tmp_path / "config.toml").read_text()
    assert "rate-cap-bps = 5000000000.0" in echoed and "tx-power-w = 1.5" in echoed


def test_simulation_config_carries_the_link_budget_to_the_scenario() -> None:
    c = SimulationConfig(rate_cap_bps=1e9, tx_power_w=1.0, aperture_m=0.2, model_bits=1e8, terminals=3)
    p = link_params(c)
    assert (p.max_rate_bps, p.max_tx_power_w, p.aperture_diameter_m, p.terminals) == (1e9, 1.0, 0.2, 3)
    scenario, bits = build_scenario(c)
    assert bits == 1e8 and scenario.model_bits == 1e8
    assert scenario.link_params == p
    assert (scenario.resources.max_tx_power_w == 1.0).all()
    for field, value in (("rate_cap_bps", 0.0), ("tx_power_w", math.inf), ("aperture_m", -1.0),
                         ("model_bits", math.nan)):
        with pytest.raises(SimulationError, match=field):
            SimulationConfig(**{field: value}).validate()
