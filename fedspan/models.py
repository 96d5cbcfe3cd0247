"""Models for on-board training (small ones and real-payload ones), and flat views of their parameters."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from fedspan.errors import FedSpanError

MODEL_NAMES = ("mlp", "cnn", "cnn-large", "resnet")
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


def _image_channels(name: str, input_shape: Sequence[int]) -> int:
    if len(input_shape) != 3:
        raise ModelError(f"the {name} needs (channels, height, width) inputs, got input_shape={tuple(input_shape)}")
    return int(input_shape[0])


def _cnn(input_shape: Sequence[int], num_classes: int, channels: int) -> nn.Module:
    in_channels = _image_channels("cnn", input_shape)
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


def _cnn_large(input_shape: Sequence[int], num_classes: int, channels: int) -> nn.Module:
    # Three conv stages (c, 2c, 4c) and a wide dense layer (64c -> 64c): the dense layer holds 97% of
    # the 1.08M parameters (a real 34.7 Mbit payload) for a third of the 3M multiply-adds per 28x28
    # sample, so 66 satellites still train it in seconds per round on two CPU cores. Pooling to 4x4
    # serves 8x8 to 64x64 inputs with the same parameters.
    in_channels = _image_channels("cnn-large", input_shape)
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(2 * channels, 4 * channels, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(4 * channels * 16, 64 * channels),
        nn.ReLU(),
        nn.Linear(64 * channels, num_classes),
    )


# ResNet normalisation: GroupNorm, not BatchNorm. BatchNorm keeps running statistics in buffers,
# which are not in the flat parameter vector (so they would be neither trained per satellite nor
# averaged by the trees), it updates them in place (which torch.vmap over satellites forbids), and
# its batch statistics couple the samples of a mini-batch of 3..32. GroupNorm normalises each
# sample on its own, has only an affine weight and bias (plain parameters that average like any
# other), and behaves the same in training and evaluation.
def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class _ResidualBlock(nn.Module):
    """Two 3x3 conv + GroupNorm layers and a skip (a strided 1x1 conv when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            _norm(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            _norm(out_channels),
        )
        # Zero-initialised last scale: every block starts as the identity (Goyal et al., 2017), which
        # keeps the first SGD steps stable at the learning rates the small models use.
        nn.init.zeros_(self.body[-1].weight)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                      _norm(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def _resnet(input_shape: Sequence[int], num_classes: int, channels: int) -> nn.Module:
    in_channels = _image_channels("resnet", input_shape)
    side = min(int(input_shape[1]), int(input_shape[2]))
    # Inputs larger than 16x16 get ResNet's ImageNet stem (stride-2 conv, then 2x2 max-pool: 64x64
    # tiles enter the stages at 16x16, 28x28 digits at 7x7); 8x8 inputs keep full resolution. The
    # stem's parameters do not depend on the input size, so the payload is the same for every dataset
    # with as many bands.
    stride = 2 if side > 16 else 1
    stem: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False),
                             _norm(channels), nn.ReLU(), nn.MaxPool2d(stride, ceil_mode=True)]
    return nn.Sequential(
        *stem,
        _ResidualBlock(channels, channels, 1),
        _ResidualBlock(channels, 2 * channels, 2),
        _ResidualBlock(2 * channels, 4 * channels, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * channels, num_classes),
    )


def make_model(name: str, input_shape: Sequence[int], num_classes: int, width: int | None = None,
               seed: int = 0) -> nn.Module:
    """One of ``MODEL_NAMES``; ``width`` overrides its base width (given in brackets).

    * ``mlp`` [64]: one hidden layer; 4,810 parameters (0.15 Mbit) on 8x8 digits.
    * ``cnn`` [16]: two conv layers (16/32 channels); 9,930 parameters (0.32 Mbit) on 28x28x1.
    * ``cnn-large`` [16]: conv 16-32-64, 4x4 adaptive pool, dense 1024-1024-classes; 1,083,146
      parameters (34.7 Mbit) on 8x8x1 or 28x28x1 with 10 classes, 1,083,434 (34.7 Mbit) on 64x64x3.
    * ``resnet`` [32]: stem + three residual stages (32/64/128 channels, GroupNorm), global average
      pool, linear head; 308,650 parameters (9.9 Mbit) on 64x64x3 with 10 classes, 308,074 on 28x28x1.

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
        if name == "cnn-large":
            return _cnn_large(input_shape, num_classes, width or 16)
        if name == "resnet":
            return _resnet(input_shape, num_classes, width or 32)
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
