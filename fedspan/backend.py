"""The contract between the simulation loop and whatever trains the satellites.

A backend trains the satellites of one round and returns the weighted model sums of each tree.
The in-process backend (`fedspan.simulation`) trains every satellite in one batched call and
adds the models up leaves -> root along the forest; the `torch.distributed` backend
(`fedspan.distributed`) trains a shard of satellites per rank and turns those sums into
all-reduces. Both must give the same numbers for the same seed, because each satellite's
randomness depends only on ``(seed, round_index, satellite)``, never on how satellites are
batched or sharded.

A strategy that aggregates per satellite (a robust median, norm clipping) asks for the models
themselves with ``AggregationStrategy.needs_client_updates``; the backend then also returns
:class:`ClientUpdates`. That costs M x P floats on the aggregating process, which the reduce
along the tree exists to avoid, so it is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch

from fedspan.aggregation import cluster_sums, reduce_routes
from fedspan.training import BatchedTrainer, client_seeds, mean_train_loss


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
    keep_client_updates: bool = False  # also return every included satellite's model (RoundUpdate.client_updates)
    proximal_mu: float = 0.0  # FedProx: local SGD adds mu (w - w_start) to every gradient (RoundPlan.proximal_mu)


@dataclass
class ClientUpdates:
    """Every included satellite's model after local training, row ``i`` being satellite ``ids[i]``.

    Only filled when the round's strategy asks for it (``needs_client_updates``); see the module
    docstring for the memory it costs.
    """

    ids: np.ndarray  # (M,) int, ascending: the satellites whose model reaches a root this round
    params: torch.Tensor  # (M, P) float32: flat model after local training
    weights: np.ndarray  # (M,) float64: samples |D_n| each trained on (its FedAvg weight)
    train_loss: np.ndarray  # (M,) float64: loss of its last local mini-batch (NaN: took no step)
    tree_of: np.ndarray  # (M,) int: the model id it started from and contributes to

    @classmethod
    def of(cls, work: RoundWork, ids: np.ndarray, params: torch.Tensor,
           train_loss: torch.Tensor | np.ndarray) -> "ClientUpdates":
        """The updates of satellites ``ids`` of ``work`` from their trained ``params`` (M, P) and losses (M,)."""
        ids = np.asarray(ids, dtype=np.int64)
        loss = train_loss.detach().cpu().to(torch.float64).numpy() if torch.is_tensor(train_loss) else train_loss
        return cls(ids=ids, params=params.detach().cpu().to(torch.float32),
                   weights=np.asarray(work.sample_weight, dtype=np.float64)[ids],
                   train_loss=np.asarray(loss, dtype=np.float64).reshape(len(ids)),
                   tree_of=np.asarray(work.tree_of, dtype=np.int64)[ids])

    def deltas(self, models: torch.Tensor) -> torch.Tensor:
        """``(M, P)`` float32 change of each satellite's model: trained minus ``models[tree_of]`` it started from."""
        return self.params - models.to(torch.float32)[torch.as_tensor(self.tree_of)]


@dataclass
class RoundUpdate:
    """Per-tree weighted sums; the new model of tree k is ``tree_sums[k] / weight_sums[k]``."""

    tree_sums: torch.Tensor  # (K, P) float64: sum over included n in tree k of w_n * params_n
    weight_sums: np.ndarray  # (K,) float64: sum over included n in tree k of w_n
    train_loss: float  # sample-weighted mean of the satellites' last local mini-batch losses
    messages: int  # models sent upward (one per tree edge between included satellites)
    client_updates: ClientUpdates | None = None  # per satellite, only when RoundWork.keep_client_updates


class TrainingBackend(Protocol):
    """Trains one round of satellites and reduces their models per tree."""

    def run_round(self, work: RoundWork) -> RoundUpdate:
        """Train every included satellite and return the per-tree weighted sums."""
        ...


class InProcessBackend:
    """The default ``TrainingBackend``: batched local training, then the spanning reduce."""

    def __init__(self, trainer: BatchedTrainer) -> None:
        self.trainer = trainer

    def run_round(self, work: RoundWork) -> RoundUpdate:
        """Train every included satellite at once and add the models up leaves -> root."""
        include = np.asarray(work.include, bool)
        idx = np.flatnonzero(include)
        tree_of = np.asarray(work.tree_of, np.int64)
        num_models, num_params = work.start_params.shape
        weights = np.asarray(work.sample_weight, float)
        loss = float("nan")
        trained, last_loss = torch.zeros((0, num_params)), torch.zeros(0)
        if len(idx):
            result = self.trainer.train(work.start_params.to(torch.float32)[torch.as_tensor(tree_of[idx])],
                                        [work.client_indices[i] for i in idx], np.asarray(work.local_steps)[idx],
                                        np.asarray(work.batch_size)[idx], client_seeds(work.seed, work.round_index, idx),
                                        proximal_mu=work.proximal_mu)
            trained, last_loss = result.params.cpu(), result.last_loss
            loss = mean_train_loss(last_loss, weights[idx])
        cluster_of, messages = reduce_routes(work.parent, tree_of, include)
        sums, wsum = cluster_sums(trained, weights[idx], cluster_of[idx], num_models)
        return RoundUpdate(tree_sums=sums, weight_sums=wsum, train_loss=loss, messages=messages,
                           client_updates=ClientUpdates.of(work, idx, trained, last_loss)
                           if work.keep_client_updates else None)
