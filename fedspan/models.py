"""Small models for on-board training, and flat-vector views of their parameters."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from fedspan.errors import FedSpanError

MODEL_NAMES = ("mlp", "cnn")
BITS_PER_PARAMETER = 32


class ModelError(FedSpanError):
    """An unknown model name, or a model that cannot take the dataset's input shape."""


def _mlp(input_shape: Sequence[int], num_classes: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def _cnn(input_shape: Sequence[int], num_classes: int, channels: int) -> nn.Module:
    if len(input_shape) != 3:
        raise ModelError(f"the cnn needs (channels, height, width) inputs, got input_shape={tuple(input_shape)}")
    in_channels = input_shape[0]
    # Adaptive pooling to 4x4 lets one architecture serve 8x8 digits, 28x28 MNIST and 64x64 EuroSAT.
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(2 * channels * 16, num_classes),
    )


def make_model(name: str, input_shape: Sequence[int], num_classes: int, width: int | None = None,
               seed: int = 0) -> nn.Module:
    """A small ``mlp`` (one hidden layer of 64) or ``cnn`` (two conv layers, 16/32 channels).

    ``seed`` fixes the initial weights so every run (and every rank) starts from the same model.
    """
    if num_classes < 2:
        raise ModelError(f"num_classes must be >= 2, got {num_classes}")
    if not input_shape or any(int(s) < 1 for s in input_shape):
        raise ModelError(f"input_shape must be positive sizes, got {tuple(input_shape)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "mlp":
            return _mlp(input_shape, num_classes, width or 64)
        if name == "cnn":
            return _cnn(input_shape, num_classes, width or 16)
    raise ModelError(f"unknown model {name!r} (choose from {', '.join(MODEL_NAMES)})")


def param_shapes(model: nn.Module) -> list[tuple[str, torch.Size]]:
    """Names and shapes of the trainable parameters, in the order of the flat vector."""
    return [(name, p.shape) for name, p in model.named_parameters()]


def num_params(model: nn.Module) -> int:
    """Number of scalar parameters P (the length of the flat vector)."""
    return sum(p.numel() for p in model.parameters())


def model_bits(model: nn.Module) -> int:
    """Size of one transmitted model in bits (32 per float parameter): the planner's ``model_bits``."""
    return BITS_PER_PARAMETER * num_params(model)


def flatten_params(model: nn.Module) -> torch.Tensor:
    """The parameters as one detached float32 vector of length P."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).to(torch.float32)


def unflatten(flat: torch.Tensor, shapes: Sequence[tuple[str, torch.Size]]) -> dict[str, torch.Tensor]:
    """Views of ``flat`` (..., P) as named parameters (..., *shape); leading dims are kept (for vmap)."""
    total = sum(math.prod(shape) for _, shape in shapes)
    if flat.ndim == 0 or flat.shape[-1] != total:
        raise ModelError(f"flat vector has shape {tuple(flat.shape)} but the model has {total} parameters")
    lead = flat.shape[:-1]
    out: dict[str, torch.Tensor] = {}
    offset = 0
    for name, shape in shapes:
        size = math.prod(shape)
        out[name] = flat[..., offset:offset + size].reshape(*lead, *shape)
        offset += size
    return out


def load_flat(model: nn.Module, flat: torch.Tensor) -> nn.Module:
    """Copy a flat vector (P,) into ``model``'s parameters in place and return the model."""
    views = unflatten(flat.detach(), param_shapes(model))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(views[name])
    return model
