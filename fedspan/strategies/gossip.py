"""Decentralized gossip (D-PSGD): every satellite averages with its ISL neighbours each round."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fedspan.backend import RoundUpdate
from fedspan.clock import RoundCost
from fedspan.strategies.base import AggregationStrategy, RoundContext, RoundPlan, compute_load, default_resources
from fedspan.strategies.power import SIMPLE_POWER_MODES, check_power, with_slowest_clocks
from fedspan.strategies.registry import register_strategy
from optimization.costs import terminal_overhead_w, transfer_costs


def metropolis_weights(edges: np.ndarray, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Metropolis-Hastings weights ``1 / (1 + max(deg_i, deg_j))`` per edge and the self weights.

    The mixing matrix is symmetric and doubly stochastic, so gossip preserves the average.
    """
    deg = np.bincount(edges.ravel(), minlength=num_nodes).astype(float)
    w = 1.0 / (1.0 + np.maximum(deg[edges[:, 0]], deg[edges[:, 1]]))
    self_w = 1.0 - np.bincount(edges.ravel(), weights=np.repeat(w, 2), minlength=num_nodes)
    return w, self_w


def usable_links(ctx: RoundContext) -> np.ndarray:
    """Mask of the round's candidate links whose both ends are available."""
    edges = np.asarray(ctx.snapshot.edges, dtype=np.int64).reshape(-1, 2)
    return ctx.available[edges[:, 0]] & ctx.available[edges[:, 1]]


@register_strategy("gossip")
class Gossip(AggregationStrategy):
    """D-PSGD with Metropolis weights over the round's ISL graph; one model per satellite.

    ``power`` ("default" or "dvfs", :data:`~fedspan.strategies.power.SIMPLE_POWER_MODES`): "dvfs" runs the simple
    slowest-clock policy (:func:`~fedspan.strategies.power.slowest_clocks`); every exchange starts when the
    slowest trainer is done, so back to back each satellite finishes its compute just then.
    """

    tree_clock = False

    def __init__(self, power: str = "default") -> None:
        self.power = check_power(self.name, power, SIMPLE_POWER_MODES)

    def num_models(self, scenario: Any) -> int:
        """Every satellite keeps its own model."""
        return len(scenario.plane_ids)

    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """No tree: each satellite trains its own model."""
        n = len(ctx.available)
        plan = RoundPlan(parent=np.full(n, -1, np.int64), tree_of=np.arange(n), participating=ctx.available.copy(),
                         **default_resources(ctx))
        if self.power == "default":
            return plan
        exchange_s = self._exchange(ctx, plan)[0]
        # Synchronous: every exchange waits for the slowest trainer, so all share the longest exchange's window.
        return with_slowest_clocks(self, ctx, plan, float(exchange_s[plan.participating].max(initial=0.0)))

    def _exchange(self, ctx: RoundContext, plan: RoundPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per satellite (N,): the seconds its sends take after training (``terminals`` links at a time) and their
        energy (J), and the seconds and energy (J) of acquiring its links not up in the previous round.

        A link is acquired as the tree policies' are (``scenario.acquisition_s``): from the round's start, beside
        training, both terminals drawing their power, charged to the link's lower-numbered end.
        """
        snap, sc = ctx.snapshot, ctx.scenario
        n = len(plan.parent)
        keep = usable_links(ctx)
        edges = np.asarray(snap.edges)[keep]
        rpw, delay = np.asarray(snap.rate_per_watt)[keep], np.asarray(snap.delay_s)[keep]
        sender = np.r_[edges[:, 0], edges[:, 1]]
        link_time, link_e = transfer_costs(sc.model_bits, np.r_[rpw, rpw], plan.tx_power_w[sender],
                                           sc.link_params.max_rate_bps, np.r_[delay, delay],
                                           terminal_overhead_w(sc.link_params.terminal_power_w))
        tx = np.bincount(sender, weights=link_e, minlength=n)
        slowest = np.zeros(n)
        np.maximum.at(slowest, sender, link_time)
        deg = np.bincount(sender, minlength=n)
        waves = np.ceil(deg / np.maximum(np.asarray(sc.resources.terminals, float), 1.0))
        acq = sc.acquisition_s(edges[:, 0], edges[:, 1], ctx.links_up)
        acquire_s = np.zeros(n)
        np.maximum.at(acquire_s, sender, np.r_[acq, acq])
        acquire_e = np.bincount(edges[:, 0], weights=terminal_overhead_w(sc.link_params.terminal_power_w) * acq,
                                minlength=n)
        return waves * slowest, tx, acquire_s, acquire_e

    def links_used(self, ctx: RoundContext, plan: RoundPlan) -> np.ndarray:
        """Every link the round exchanged over: up at its end, kept by the next round."""
        return np.asarray(ctx.snapshot.edges, dtype=np.int64).reshape(-1, 2)[usable_links(ctx)]

    def round_cost(self, ctx: RoundContext, plan: RoundPlan) -> RoundCost:
        """Each satellite sends its model to every neighbour, ``terminals`` links at a time, once the slowest
        trainer is done and its own links are up."""
        exchange_s, tx, acquire_s, acquire_e = self._exchange(ctx, plan)
        load = compute_load(ctx, plan)
        on = plan.participating
        compute_t = np.where(on, load.time_s(), 0.0)
        # Everyone exchanges after the slowest trainer is done (synchronous D-PSGD) and its links are acquired.
        done = np.where(on, np.maximum(compute_t.max(initial=0.0), acquire_s) + exchange_s, 0.0)
        acquired = np.where(on, acquire_e, 0.0)
        return RoundCost(latency_s=float(done.max(initial=0.0)), up_done_s=done, down_done_s=done,
                         compute_energy_j=np.where(on, load.energy_j(), 0.0), transmit_energy_j=tx + acquired,
                         static_energy_j=np.where(on, load.static_energy_j(), 0.0), acquisition_energy_j=acquired)

    def aggregate(self, ctx: RoundContext, plan: RoundPlan, update: RoundUpdate,
                  models: torch.Tensor) -> torch.Tensor:
        """``w_i <- sum_j W_ij w_j`` over the round's graph (satellites without data pass theirs on)."""
        has = torch.as_tensor(update.weight_sums > 0)
        local = models.to(torch.float64).clone()
        local[has] = update.tree_sums[has] / torch.as_tensor(update.weight_sums)[has, None]
        edges = np.asarray(ctx.snapshot.edges, dtype=np.int64).reshape(-1, 2)[usable_links(ctx)]
        w, self_w = metropolis_weights(edges, len(models))
        mixed = local * torch.as_tensor(self_w)[:, None]
        i, j = torch.as_tensor(edges[:, 0]), torch.as_tensor(edges[:, 1])
        wt = torch.as_tensor(w)[:, None]
        mixed.index_add_(0, i, wt * local[j])
        mixed.index_add_(0, j, wt * local[i])
        return mixed.to(models.dtype)
