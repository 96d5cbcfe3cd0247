"""Plane-based baselines: FedISL-style relay to a sink per plane, and ring all-reduce per plane.

Satellites of one orbital plane follow each other on the same circle, so the link to a ring
neighbour has a near-constant length; its rate is computed from the positions of the round
with the laser budget of ``orbits.links`` (it need not be one of the k-nearest candidates).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedspan.clock import RoundCost, mixing_cost
from fedspan.strategies.base import (AggregationStrategy, RoundContext, RoundPlan, compute_load, default_resources,
                                     geometric_links)
from fedspan.strategies.forests import plane_chains
from fedspan.strategies.registry import register_strategy
from optimization.costs import terminal_overhead_w, transfer_costs


def plane_index(scenario: Any) -> np.ndarray:
    """Dense plane number 0..P-1 of every satellite."""
    return np.unique(np.asarray(scenario.plane_ids), return_inverse=True)[1]


@register_strategy("fedisl")
class FedISL(AggregationStrategy):
    """Intra-plane relay to one sink per plane; sinks merge their sums every round (one model).

    The sink slot advances by one every round, spreading the sink's extra relaying load.
    """

    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """Chains toward each plane's sink; every satellite contributes to the single model."""
        sc = ctx.scenario
        num_planes = int(plane_index(sc).max()) + 1
        parent = plane_chains(sc.plane_ids, sc.index_in_plane, ctx.available,
                              sink_slot=np.full(num_planes, ctx.round_index))
        n = len(parent)
        return RoundPlan(parent=parent, tree_of=np.zeros(n, np.int64), participating=ctx.available.copy(),
                         **default_resources(ctx))


@register_strategy("ring")
class PlaneRing(AggregationStrategy):
    """Ring all-reduce inside every plane (one model per plane), planes mixed every ``mix_every``."""

    tree_clock = False

    def __init__(self, mix_every: int | None = None) -> None:
        self.mix_every = mix_every

    def num_models(self, scenario: Any) -> int:
        """One model per orbital plane."""
        return int(plane_index(scenario).max()) + 1

    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """The reduce runs along a chain in ring order (same sums as the ring's reduce-scatter)."""
        sc = ctx.scenario
        parent = plane_chains(sc.plane_ids, sc.index_in_plane, ctx.available)
        mix_every = ctx.mix_every if self.mix_every is None else self.mix_every
        return RoundPlan(parent=parent, tree_of=plane_index(sc), participating=ctx.available.copy(),
                         mix=mix_every > 0 and (ctx.round_index + 1) % mix_every == 0, **default_resources(ctx))

    @staticmethod
    def _rings(ctx: RoundContext, plan: RoundPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Participants in ring order, each one's successor, its plane and its plane's participant count."""
        sc = ctx.scenario
        pid = plane_index(sc)
        members = np.flatnonzero(plan.participating)
        order = members[np.lexsort((np.asarray(sc.index_in_plane)[members], pid[members]))]
        p_o = pid[order]
        first = np.r_[True, p_o[1:] != p_o[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        last = np.r_[first[1:], True]
        nxt = np.where(last, order[group_start], np.roll(order, -1))
        size = np.bincount(p_o, minlength=pid.max() + 1).astype(float)
        return order, nxt, p_o, size

    def links_used(self, ctx: RoundContext, plan: RoundPlan) -> np.ndarray:
        """The ring links (each plane's closing link included): up at the round's end, kept by the next round."""
        order, nxt, p_o, size = self._rings(ctx, plan)
        ring = size[p_o] > 1
        a, b = order[ring], nxt[ring]
        pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
        return np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), np.int64)

    def round_cost(self, ctx: RoundContext, plan: RoundPlan) -> RoundCost:
        """Ring all-reduce: 2(m-1) steps of S/m bits, each step as slow as the plane's slowest link.

        A ring link not up in the previous round is acquired from the round's start, beside training.
        """
        sc = ctx.scenario
        n = len(plan.parent)
        order, nxt, p_o, size = self._rings(ctx, plan)
        m = size[p_o]
        # A plane with one participant (an orbit-raising satellite in a real file) has no ring link.
        rpw, delay = np.ones(len(order)), np.zeros(len(order))
        ring = m > 1
        rpw[ring], delay[ring] = geometric_links(ctx, order[ring], nxt[ring])
        power = plan.tx_power_w[order]
        chunk_t, chunk_e = transfer_costs(sc.model_bits / m, rpw, power, sc.link_params.max_rate_bps, delay,
                                          terminal_overhead_w(sc.link_params.terminal_power_w))
        step = np.zeros(len(size))
        np.maximum.at(step, p_o, np.where(m > 1, chunk_t, 0.0))
        load = compute_load(ctx, plan)
        compute_t = np.where(plan.participating, load.time_s(), 0.0)
        slowest = np.zeros(len(size))
        np.maximum.at(slowest, p_o, compute_t[order])
        acquire = np.zeros(len(order))
        acquire[ring] = sc.acquisition_s(order[ring], nxt[ring], ctx.links_up)
        np.maximum.at(slowest, p_o, acquire)  # the plane's exchange starts once its ring is up
        plane_done = slowest + 2 * (size - 1).clip(min=0) * step
        tx, acquired = np.zeros(n), np.zeros(n)
        acquired[order] = terminal_overhead_w(sc.link_params.terminal_power_w) * acquire
        tx[order] = 2 * (m - 1) * chunk_e + acquired[order]
        done = np.zeros(n)
        done[order] = plane_done[p_o]
        cost = RoundCost(latency_s=float(plane_done.max(initial=0.0)), up_done_s=done, down_done_s=done,
                         compute_energy_j=np.where(plan.participating, load.energy_j(), 0.0), transmit_energy_j=tx,
                         static_energy_j=np.where(plan.participating, load.static_energy_j(), 0.0),
                         acquisition_energy_j=acquired)
        if plan.mix:
            mix = mixing_cost(plan.roots, n, ctx.snapshot.edges, ctx.snapshot.rate_bps, ctx.snapshot.delay_s,
                              sc.model_bits, plan.tx_power_w)
            cost.latency_s += mix.latency_s
            cost.transmit_energy_j += mix.transmit_energy_j
        return cost
