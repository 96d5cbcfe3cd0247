"""--stop-at-accuracy ends a run at its target without changing any round; --model-width sizes the model."""

from __future__ import annotations

import pytest

from cli_run import run_cli
from fedspan.models import make_model, num_params
from fedspan.simulation import SimulationConfig, SimulationError, run_simulation

def rows(metrics) -> list[str]:
    """Metrics rows compared as text (NaN columns such as the state of charge without batteries equal)."""
    return [repr(m.to_dict()) for m in metrics]


BASE = dict(strategy="bfs", rounds=5, max_train=400, max_test=200, schedule="back-to-back", seed=3)


def test_a_stopped_run_is_the_prefix_of_the_full_run_and_resumes_past_its_stop(tmp_path):
    full = run_simulation(SimulationConfig(**BASE)).metrics
    stop = full[1].test_accuracy  # reached at round 1 at the latest
    first = next(i for i, m in enumerate(full) if m.test_accuracy >= stop)
    stopped = run_simulation(SimulationConfig(**BASE, stop_at_accuracy=stop, output_dir=str(tmp_path))).metrics
    assert len(stopped) == first + 1 < len(full)
    assert rows(stopped) == rows(full[:first + 1])
    # Where a run stops changes no round, so the same folder resumes without the stop and ends as the full run.
    resumed = run_simulation(SimulationConfig(**BASE, output_dir=str(tmp_path))).metrics
    assert rows(resumed) == rows(full)


def test_model_width_sets_the_trained_and_sent_model():
    wide = make_model("mlp", (64,), 10, width=128)
    assert num_params(wide) == 64 * 128 + 128 + 128 * 10 + 10
    # 1280 hidden units on 28 x 28 images: the >= 1M-parameter MLP of the communication-bound benchmarks.
    assert num_params(make_model("mlp", (1, 28, 28), 10, width=1280)) == 784 * 1280 + 1280 + 1280 * 10 + 10
    res = run_simulation(SimulationConfig(**{**BASE, "rounds": 1}, model_width=128))
    assert res.global_model.numel() == num_params(wide)


@pytest.mark.parametrize("option, value, name", [("--stop-at-accuracy", "1.5", "stop-at-accuracy"),
                                                 ("--model-width", "0", "model-width"),
                                                 ("--model-width", "100000", "model-width")])
def test_out_of_range_values_are_refused_naming_the_option(option, value, name, capsys):
    code, out, err = run_cli(["run", "--rounds", "1", option, value], capsys)
    assert code == 2 and name in (out + err) and "Traceback" not in (out + err)


def test_config_file_values_get_the_same_checks():
    with pytest.raises(SimulationError, match="stop_at_accuracy"):
        SimulationConfig(stop_at_accuracy=0.0).validate()
    with pytest.raises(SimulationError, match="model_width"):
        SimulationConfig(model_width=-3).validate()


def test_absurd_local_steps_and_batches_are_refused_before_any_work(capsys):
    """--local-steps 10^18 used to run until killed; now the option names its range, in config files too."""
    code, out, err = run_cli(["run", "--rounds", "1", "--local-steps", "1000000000000000000"], capsys)
    assert code == 2 and "local-steps" in (out + err) and "10000" in (out + err)
    with pytest.raises(SimulationError, match="batch_size"):
        SimulationConfig(batch_size=10**9).validate()
