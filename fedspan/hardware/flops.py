"""Training FLOPs per sample, measured on the actual model with PyTorch's FLOP counter."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fedspan.hardware.profiles import HardwareError

__all__ = ["training_flops_per_sample"]

_MEASURE_BATCH = 2


def training_flops_per_sample(model: nn.Module, input_shape: Sequence[int]) -> float:
    """FLOPs of one training sample (forward + backward), measured on ``model``.

    Runs one forward and one backward pass on a batch of 2 zero inputs of shape ``input_shape``
    (one sample's shape, without the batch dimension) under :class:`torch.utils.flop_counter.FlopCounterMode`
    and divides by 2 (a batch of 1 can take special-cased kernels). The backward pass starts from
    ``output.sum()``: the loss's own FLOPs are not counted by FlopCounterMode anyway.

    What is counted: FlopCounterMode counts matrix products and convolutions only (``mm``,
    ``addmm``, ``bmm``, ``convolution`` and their backward, attention), as ``2 x MACs``; bias adds,
    activations, normalisation, pooling and the optimizer step are not counted (1-3 % of a CNN's
    work [1]_). Backward counts what autograd computes: the weight gradient of every layer and the
    input gradient of every layer whose input needs one, so the FIRST layer's input gradient is not
    computed and counts 0 (the data do not require gradients). A stack of linear layers therefore
    counts ``2 m n`` forward and ``4 m n`` backward per layer, except ``2 m n`` backward for the first
    one: a little under the "3x forward" rule [2]_.

    The model is left as it was: its train/eval mode and every parameter's ``.grad`` are restored,
    and no random numbers are drawn.

    >>> from torch import nn
    >>> training_flops_per_sample(nn.Linear(10, 4), (10,))  # forward 2*10*4, weight grad 2*10*4
    160.0

    References
    ----------
    .. [1] M. Hobbhahn and J. Sevilla, "What's the backward-forward FLOP ratio for neural networks?",
       Epoch AI, 2021.
    .. [2] J. Kaplan et al., "Scaling laws for neural language models", arXiv:2001.08361, 2020.
    """
    shape = tuple(input_shape)
    if not shape or any(isinstance(s, bool) or int(s) != s or s < 1 for s in shape):
        raise HardwareError(f"input_shape must be positive integer sizes, got {tuple(input_shape)!r}")
    first = next(model.parameters(), None)
    if first is None:
        raise HardwareError("the model has no parameters to train")
    was_training = model.training
    saved_grads = [(p, p.grad) for p in model.parameters()]
    for p, _ in saved_grads:
        p.grad = None
    x = torch.zeros((_MEASURE_BATCH, *map(int, shape)), dtype=first.dtype, device=first.device)
    counter = FlopCounterMode(display=False)
    try:
        model.train()
        with torch.enable_grad(), counter:
            model(x).sum().backward()
    finally:
        model.train(was_training)
        for p, grad in saved_grads:
            p.grad = grad
    total = float(counter.get_total_flops())
    if not (math.isfinite(total) and total > 0):
        raise HardwareError("FlopCounterMode counted no FLOPs: the model has no matrix products or convolutions")
    return total / _MEASURE_BATCH
