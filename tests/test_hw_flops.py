"""Training FLOPs per sample measured with FlopCounterMode match hand counts, and leave the model alone."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fedspan.hardware import HardwareError
from fedspan.hardware.flops import training_flops_per_sample
from fedspan.models import make_model


def test_mlp_matches_the_hand_count() -> None:
    # make_model("mlp") is Flatten -> Linear(in, h) -> ReLU -> Linear(h, classes). Per sample a linear
    # layer costs 2*in*out forward, 2*in*out for its weight gradient and 2*in*out for its input
    # gradient. FlopCounterMode counts what autograd computes: the first layer's input is the data,
    # which does not require a gradient, so its input gradient is never computed and counts 0.
    # Bias adds and bias gradients (sums) are not counted either.
    inputs, hidden, classes = 28 * 28, 64, 10
    model = make_model("mlp", (1, 28, 28), classes)
    first = 2 * inputs * hidden
    second = 2 * hidden * classes
    expected = first + first + 0 + second + second + second  # fwd, weight grad, (no) input grad; x3 for layer 2
    assert training_flops_per_sample(model, (1, 28, 28)) == expected == 204_544
    # The "3x forward" rule over-counts by exactly the missing first-layer input gradient.
    assert 3 * (first + second) - expected == first


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0)])
def test_single_conv_matches_the_hand_count(stride: int, padding: int) -> None:
    c_in, c_out, k, side = 3, 8, 3, 16
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    out_side = (side + 2 * padding - k) // stride + 1
    forward = 2 * c_out * out_side * out_side * c_in * k * k
    # Backward of the only layer: its weight gradient (same MACs as the forward); the input (data)
    # gradient is not computed.
    assert training_flops_per_sample(conv, (c_in, side, side)) == 2 * forward


def test_conv_input_gradient_is_counted_when_a_layer_needs_it() -> None:
    # Two convs: the second one's input comes from the first, so its input gradient is computed
    # and counted (as much as its forward), the first one's is not.
    a, b = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)
    fa, fb = 2 * 4 * 10 * 10 * 1 * 9, 2 * 6 * 10 * 10 * 4 * 9
    assert training_flops_per_sample(nn.Sequential(a, b), (1, 10, 10)) == 2 * fa + 3 * fb


def test_model_state_is_restored() -> None:
    model = make_model("cnn", (1, 28, 28), 10)
    model.eval()
    marker = torch.full_like(next(model.parameters()), 7.0)
    next(model.parameters()).grad = marker
    before = [p.detach().clone() for p in model.parameters()]
    state = torch.random.get_rng_state()
    flops = training_flops_per_sample(model, (1, 28, 28))
    assert flops > 0 and not model.training
    assert next(model.parameters()).grad is marker
    assert all(p.grad is None for p in list(model.parameters())[1:])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert torch.equal(state, torch.random.get_rng_state())
    model.train()
    assert training_flops_per_sample(model, (1, 28, 28)) == flops and model.training


def test_the_four_project_models() -> None:
    """The numbers docs/physical-model.md reports (10 classes, default widths)."""
    measured = {name: training_flops_per_sample(make_model(name, shape, 10), shape)
                for name, shape in (("mlp", (1, 28, 28)), ("cnn", (1, 28, 28)),
                                    ("cnn-large", (1, 28, 28)), ("resnet", (3, 64, 64)))}
    assert measured == {"mlp": 204_544.0, "cnn": 5_901_312.0, "cnn-large": 17_642_496.0, "resnet": 75_898_368.0}
    # physical-params.md's ~70 MFLOP is the FedAvg CNN (5x5 convs 32/64, FC 512); cnn-large is ~4x lighter.
    assert 3.5 < 70e6 / measured["cnn-large"] < 4.5


@pytest.mark.parametrize("shape", [(), (0, 4), (2.5,), (True, 3)])
def test_bad_input_shapes_are_refused(shape: tuple) -> None:
    with pytest.raises(HardwareError, match="input_shape"):
        training_flops_per_sample(nn.Linear(4, 2), shape)


def test_models_without_counted_work_are_refused() -> None:
    with pytest.raises(HardwareError, match="no parameters"):
        training_flops_per_sample(nn.ReLU(), (4,))
    with pytest.raises(HardwareError, match="counted no FLOPs"):
        training_flops_per_sample(nn.GroupNorm(1, 4), (4, 3, 3))
    assert math.isfinite(training_flops_per_sample(nn.Linear(4, 2), (4,)))
