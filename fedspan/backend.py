"""The contract between the simulation loop and whatever trains the satellites.

A backend trains the satellites of one round and returns the weighted model sums of each tree.
The in-process backend (`fedspan.simulation`) trains every satellite in one batched call and
adds the models up leaves -> root along the forest; the `torch.distributed` backend
(`fedspan.distributed`) trains a shard of satellites per rank and turns those sums into
all-reduces. Both must give the same numbers for the same seed, because each satellite's
randomness depends only on ``(seed, round_index, satellite)``, never on how satellites are
batched or sharded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch


@dataclass
class RoundWork:
    """What the satellites must do in one round.

    ``start_params[tree_of[n]]`` is the model satellite ``n`` starts from. Satellites with
    ``include[n] == False`` (dead, out of energy, not in any tree) neither train nor contribute.
    """

    start_params: torch.Tensor  # (K, P) float32: one model per tree/cluster
    tree_of: np.ndarray  # (N,) int in [0, K)
    parent: np.ndarray  # (N,) int, -1 for roots: the forest the sums travel along
    include: np.ndarray  # (N,) bool
    local_steps: np.ndarray  # (N,) int >= 1
    batch_size: np.ndarray  # (N,) int >= 1
    sample_weight: np.ndarray  # (N,) float: |D_n| at this round (0 for satellites without data)
    client_indices: Sequence[np.ndarray]  # per satellite: indices into the training set
    round_index: int
    seed: int


@dataclass
class RoundUpdate:
    """Per-tree weighted sums; the new model of tree k is ``tree_sums[k] / weight_sums[k]``."""

    tree_sums: torch.Tensor  # (K, P) float64: sum over included n in tree k of w_n * params_n
    weight_sums: np.ndarray  # (K,) float64: sum over included n in tree k of w_n
    train_loss: float  # sample-weighted mean of the satellites' last local mini-batch losses
    messages: int  # models sent upward (one per tree edge between included satellites)


class TrainingBackend(Protocol):
    """Trains one round of satellites and reduces their models per tree."""

    def run_round(self, work: RoundWork) -> RoundUpdate:
        """Train every included satellite and return the per-tree weighted sums."""
        ...
