"""Models: sizes in bits, flat views that round-trip, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedspan.clock import EnergyLedger
from fedspan.models import (ModelError, flatten_params, load_flat, make_model, model_bits, num_params, param_shapes,
                            unflatten)
from fedspan.simulation import Simulation, SimulationConfig, build_scenario
from fedspan.training import BatchedTrainer, client_seeds, evaluate
from orbits.tle import write_tle
from orbits.walker import DEFAULT_EPOCH, WalkerSpec, walker_delta


@pytest.mark.parametrize("name,shape", [("mlp", (1, 8, 8)), ("mlp", (36,)), ("cnn", (1, 28, 28)), ("cnn", (3, 64, 64))])
def test_models_run_and_size_in_bits(name, shape):
    model = make_model(name, shape, 10)
    assert model(torch.zeros(4, *shape)).shape == (4, 10)
    count = sum(p.numel() for p in model.parameters())
    assert model_bits(model) == 32 * count
    assert count < 60_000  # small enough to train 1584 copies at once


def test_digits_mlp_size_matches_hand_count():
    # 64 -> 64 -> 10 with biases.
    assert model_bits(make_model("mlp", (1, 8, 8), 10)) == 32 * (64 * 64 + 64 + 64 * 10 + 10)


def test_flat_roundtrip_and_batched_unflatten():
    model = make_model("cnn", (1, 8, 8), 10, seed=1)
    flat = flatten_params(model)
    other = load_flat(make_model("cnn", (1, 8, 8), 10, seed=2), flat)
    assert torch.equal(flatten_params(other), flat)
    stacked = unflatten(torch.stack([flat, 2 * flat]), param_shapes(model))
    for name, p in model.named_parameters():
        assert torch.equal(stacked[name][0], p.detach()) and torch.equal(stacked[name][1], 2 * p.detach())


def test_seed_fixes_initial_weights():
    a, b = make_model("mlp", (36,), 6, seed=4), make_model("mlp", (36,), 6, seed=4)
    assert torch.equal(flatten_params(a), flatten_params(b))
    assert not torch.equal(flatten_params(a), flatten_params(make_model("mlp", (36,), 6, seed=5)))


def test_model_errors():
    with pytest.raises(ModelError, match="unknown model 'vgg'"):
        make_model("vgg", (1, 8, 8), 10)
    with pytest.raises(ModelError, match="needs \\(channels, height, width\\)"):
        make_model("cnn", (36,), 6)
    with pytest.raises(ModelError, match="has 4810 parameters"):
        unflatten(torch.zeros(5), param_shapes(make_model("mlp", (1, 8, 8), 10)))


# --- the real-payload models: cnn-large (>= 1M parameters) and the GroupNorm resnet -----------------

LARGE = ("cnn-large", "resnet")
IMAGE_SHAPES = ((1, 8, 8), (1, 28, 28), (3, 64, 64))


@pytest.mark.parametrize("name", LARGE)
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_large_models_run_on_digits_mnist_and_eurosat_shapes(name, shape):
    model = make_model(name, shape, 10)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)
    # Everything a satellite sends is in the flat vector: no BatchNorm running statistics.
    assert list(model.buffers()) == []


def test_large_model_sizes_match_their_docstrings():
    sizes = {(name, shape): num_params(make_model(name, shape, 10)) for name in LARGE for shape in IMAGE_SHAPES}
    assert sizes[("cnn-large", (1, 28, 28))] == sizes[("cnn-large", (1, 8, 8))] == 1_083_146
    assert sizes[("cnn-large", (3, 64, 64))] == 1_083_434
    assert sizes[("resnet", (1, 28, 28))] == sizes[("resnet", (1, 8, 8))] == 308_074
    assert sizes[("resnet", (3, 64, 64))] == 308_650
    assert min(size for (name, _), size in sizes.items() if name == "cnn-large") >= 1_000_000
    assert model_bits(make_model("cnn-large", (1, 28, 28), 10)) == 32 * 1_083_146  # 34.7 Mbit
    assert make_model("cnn-large", (1, 28, 28), 10, width=8)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("name", LARGE)
def test_large_models_flat_roundtrip_and_seeded_init(name):
    flat = flatten_params(make_model(name, (3, 64, 64), 10, seed=1))
    assert torch.equal(flat, flatten_params(make_model(name, (3, 64, 64), 10, seed=1)))
    other = make_model(name, (3, 64, 64), 10, seed=2)
    assert not torch.equal(flatten_params(other), flat)
    assert torch.equal(flatten_params(load_flat(other, flat)), flat)
    named = unflatten(torch.stack([flat, -flat]), param_shapes(other))
    assert all(torch.equal(named[k][0], p.detach()) for k, p in other.named_parameters())


@pytest.mark.parametrize("name", LARGE)
@pytest.mark.parametrize("per_client", [False, True])
def test_one_batched_step_lowers_the_loss(name, per_client):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 64, 64, generator=g), torch.randint(0, 4, (8,), generator=g)
    model = make_model(name, (3, 64, 64), 4)
    trainer = BatchedTrainer(model, x, y, lr=0.05, per_client=per_client)
    start = flatten_params(model).repeat(2, 1)
    clients = [np.arange(4), np.arange(4, 8)]
    out = trainer.train(start, clients, np.array([1, 1]), np.array([4, 4]), client_seeds(0, 0, np.arange(2)))
    for m, ix in enumerate(clients):
        before = evaluate(model, start[m], x[ix], y[ix])[0]
        assert out.last_loss[m].item() == pytest.approx(before, rel=1e-5)
        assert evaluate(model, out.params[m], x[ix], y[ix])[0] < before


def test_cnn_large_payload_reaches_the_planner_and_the_clock(tmp_path):
    # Twelve satellites in one ring keep the three one-round runs quick; the payload path is the 66's.
    shell = tmp_path / "ring.tle"
    write_tle(shell, walker_delta(WalkerSpec(53.0, 12, 1, 0, 550.0), DEFAULT_EPOCH))
    faults = [{"round": 0, "kind": "root", "at_fraction": 0.5}]
    base = dict(constellation=str(shell), dataset="digits", strategy="mst", rounds=1, max_train=64, max_test=50,
                local_steps=1, batch_size=4, faults=faults)
    big = Simulation(SimulationConfig(model="cnn-large", **base))
    bits = 32 * num_params(big.model)
    assert big.scenario.model_bits == bits >= 32e6
    assert build_scenario(SimulationConfig(model="cnn-large", **base))[1] == bits
    snapshot = big.scenario.snapshot(0.0)
    weights = np.full(big.num_satellites, 4.0)
    problem, _ = big.scenario.problem(snapshot, np.ones(big.num_satellites, bool), weights, 1)
    assert problem.model_bits == bits

    def transmit_energy(sim):
        ledger = EnergyLedger(sim.num_satellites)
        metrics = sim.step(sim.initial_state(), ledger)
        assert "promoted" in metrics.faults and metrics.num_roots == 1  # faults re-cost the same payload
        return metrics.latency_s, ledger.to_dict()["records"][0]["transmit_energy_j"]

    big_cost = transmit_energy(big)
    small = transmit_energy(Simulation(SimulationConfig(model="mlp", **base)))
    # The clock charges the payload: the mlp told it sends cnn-large's bits costs what cnn-large does.
    assert transmit_energy(Simulation(SimulationConfig(model="mlp", model_bits=bits, **base))) == big_cost
    assert big_cost[1] > 100 * small[1] and big_cost[0] > small[0]
