"""Models: sizes in bits, flat views that round-trip, and clear errors."""

from __future__ import annotations

import pytest
import torch

from fedspan.models import ModelError, flatten_params, load_flat, make_model, model_bits, param_shapes, unflatten


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
