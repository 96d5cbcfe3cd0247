"""Plane-based baselines: FedISL-style relay to a sink per plane, and ring all-reduce per plane.

Satellites of one orbital plane follow each other on the same circle, so the link to a ring
neighbour has a near-constant length; its rate is computed from the positions of the round
with the laser budget of ``orbits.links`` (it need not be one of the k-nearest candidates).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fedspan.clock import MixingCost, RoundCost
from fedspan.strategies.base import (AggregationStrategy, RoundContext, RoundPlan, add_mix, compute_load,
                                     default_resources, geometric_links, root_mixes)
from fedspan.strategies.forests import plane_chains
from fedspan.strategies.power import (POWER_MODES, SIMPLE_POWER_MODES, check_power, forest_comm_s, forest_power,
                                      with_slowest_clocks)
from fedspan.strategies.registry import register_strategy
from optimization.costs import terminal_overhead_w, transfer_costs
from optimization.forests import find_edges


def plane_index(scenario: Any) -> np.ndarray:
    """Dense plane number 0..P-1 of every satellite."""
    return np.unique(np.asarray(scenario.plane_ids), return_inverse=True)[1]


@register_strategy("fedisl")
class FedISL(AggregationStrategy):
    """Intra-plane relay to one sink per plane; sinks merge their sums every round (one model).

    The sink slot advances by one every round, spreading the sink's extra relaying load. ``power``
    (:data:`~fedspan.strategies.power.POWER_MODES`): the plane chains are a forest over the round's satellites,
    so "dvfs" and "exact" are the forest baselines' exact allocations on it where every chain link is a
    candidate link of the round; otherwise "dvfs" (and "exact") run the simple slowest-clock policy
    (:func:`~fedspan.strategies.power.slowest_clocks`) and ``plan.info`` says so.
    """

    def __init__(self, power: str = "default") -> None:
        self.power = check_power(self.name, power, POWER_MODES)

    @property
    def chooses_knobs(self) -> bool:
        """Exact power management on the chains chooses steps and batch, as for the forests."""
        return self.power == "exact"

    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """Chains toward each plane's sink; every satellite contributes to the single model."""
        sc = ctx.scenario
        num_planes = int(plane_index(sc).max()) + 1
        parent = plane_chains(sc.plane_ids, sc.index_in_plane, ctx.available,
                              sink_slot=np.full(num_planes, ctx.round_index))
        n = len(parent)
        plan = RoundPlan(parent=parent, tree_of=np.zeros(n, np.int64), participating=ctx.available.copy(),
                         **default_resources(ctx))
        return plan if self.power == "default" else self._managed(ctx, plan)

    def _managed(self, ctx: RoundContext, plan: RoundPlan) -> RoundPlan:
        """The plan with the power mode's resources: exact on the chains where they are candidate links."""
        problem, nodes = ctx.scenario.problem(ctx.snapshot, ctx.available, ctx.sample_weight, 1,
                                              energy_budget_j=ctx.energy_budget_j, deadline_s=ctx.deadline_s,
                                              links_up=ctx.links_up)
        local = np.full(len(plan.parent), -1, np.int64)
        local[nodes] = np.arange(len(nodes))
        up = plan.parent[nodes]
        sub_parent = np.where(up >= 0, local[np.maximum(up, 0)], -1)
        kids = np.flatnonzero(sub_parent >= 0)
        _, found = find_edges(problem.edges, problem.num_nodes, kids, sub_parent[kids])
        if found.all() and ((up < 0) | (sub_parent >= 0)).all():
            # The sinks merge their sums every round: the planner prices that exchange every round.
            problem = replace(problem, num_trees=int((sub_parent < 0).sum()),
                              learning=replace(problem.learning, mix_every=1))
            overrides = forest_power(ctx, problem, sub_parent, self.power)
            info = overrides.pop("info", {})
            resources = {key: getattr(plan, key).copy() for key in overrides}
            for key, values in overrides.items():
                resources[key][nodes] = values
            return replace(plan, info={**plan.info, **info}, **resources)
        missing = kids[~found]
        note = (f"plane-chain link ({int(nodes[missing[0]])}, {int(plan.parent[nodes[missing[0]]])}) and "
                f"{len(missing) - 1} more are not candidate links of the round: the simple slowest-clock policy"
                if len(missing) else "the chains leave the round's satellites: the simple slowest-clock policy")
        cost = self.round_cost(ctx, plan)
        comm = forest_comm_s(ctx, plan, cost.latency_s, cost.down_done_s)
        return with_slowest_clocks(self, ctx, plan, comm, {"power": self.power, "fallback": note})


@dataclass(frozen=True)
class RingExchange:
    """The all-reduce of a ring plan: participants in ring order and what their links take."""

    order: np.ndarray  # (M,) participants in ring order, plane by plane
    plane: np.ndarray  # (M,) dense plane of each
    size: np.ndarray  # (P,) participants per plane
    chunk_e: np.ndarray  # (M,) J per S/m chunk sent to the ring successor
    acquire_s: np.ndarray  # (M,) s to acquire the link to the successor (0 when up last round)
    exchange_s: np.ndarray  # (P,) s of the plane's 2(m-1) steps, each as slow as its slowest link


@register_strategy("ring")
class PlaneRing(AggregationStrategy):
    """Ring all-reduce inside every plane (one model per plane), planes mixed every ``mix_every``.

    ``power`` ("default" or "dvfs", :data:`~fedspan.strategies.power.SIMPLE_POWER_MODES`): "dvfs" runs the simple
    slowest-clock policy (:func:`~fedspan.strategies.power.slowest_clocks`), each satellite finishing its compute
    when its plane's exchange must start for the round to end at the race-to-idle time (or the deadline).
    """

    tree_clock = False

    def __init__(self, mix_every: int | None = None, power: str = "default") -> None:
        self.mix_every = mix_every
        self.power = check_power(self.name, power, SIMPLE_POWER_MODES)

    def num_models(self, scenario: Any) -> int:
        """One model per orbital plane."""
        return int(plane_index(scenario).max()) + 1

    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """The reduce runs along a chain in ring order (same sums as the ring's reduce-scatter)."""
        sc = ctx.scenario
        parent = plane_chains(sc.plane_ids, sc.index_in_plane, ctx.available)
        mix_every = ctx.mix_every if self.mix_every is None else self.mix_every
        plan = RoundPlan(parent=parent, tree_of=plane_index(sc), participating=ctx.available.copy(),
                         mix=mix_every > 0 and (ctx.round_index + 1) % mix_every == 0, **default_resources(ctx))
        if self.power == "default":
            return plan
        ex = self._exchange(ctx, plan)
        comm = np.zeros(len(parent))
        comm[ex.order] = ex.exchange_s[ex.plane]
        mix = self._mixing(ctx, plan)
        return with_slowest_clocks(self, ctx, plan, comm + (mix.latency_s if mix is not None else 0.0))

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

    def _ring_links(self, ctx: RoundContext, plan: RoundPlan) -> np.ndarray:
        """(L, 2) the ring links (each plane's closing link included), low index first."""
        order, nxt, p_o, size = self._rings(ctx, plan)
        ring = size[p_o] > 1
        a, b = order[ring], nxt[ring]
        return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1).reshape(-1, 2).astype(np.int64)

    def links_used(self, ctx: RoundContext, plan: RoundPlan) -> np.ndarray:
        """The ring links and the planes' mix route: up at the round's end, kept by the next round."""
        mix = self._mixing(ctx, plan)
        links = [self._ring_links(ctx, plan)] + ([mix.links] if mix is not None else [])
        return np.unique(np.concatenate(links), axis=0).astype(np.int64)

    def _exchange(self, ctx: RoundContext, plan: RoundPlan) -> RingExchange:
        """The rings' links at the plan's powers: 2(m-1) steps of S/m bits per plane, and their acquisition."""
        sc = ctx.scenario
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
        acquire = np.zeros(len(order))
        acquire[ring] = sc.acquisition_s(order[ring], nxt[ring], ctx.links_up)
        return RingExchange(order=order, plane=p_o, size=size, chunk_e=chunk_e, acquire_s=acquire,
                            exchange_s=2 * (size - 1).clip(min=0) * step)

    def _mixing(self, ctx: RoundContext, plan: RoundPlan) -> MixingCost | None:
        """The planes' root-to-root mix after the round (``plan.mix``), else None; its hops on ring links are up."""
        mixes = root_mixes(ctx, plan, round_links=self._ring_links(ctx, plan)) if plan.mix else []
        return mixes[0][1] if mixes else None

    def round_cost(self, ctx: RoundContext, plan: RoundPlan) -> RoundCost:
        """Ring all-reduce: 2(m-1) steps of S/m bits, each step as slow as the plane's slowest link.

        A ring link not up in the previous round is acquired from the round's start, beside training.
        """
        sc = ctx.scenario
        n = len(plan.parent)
        ex = self._exchange(ctx, plan)
        order, p_o, size = ex.order, ex.plane, ex.size
        m = size[p_o]
        load = compute_load(ctx, plan)
        compute_t = np.where(plan.participating, load.time_s(), 0.0)
        slowest = np.zeros(len(size))
        np.maximum.at(slowest, p_o, compute_t[order])
        np.maximum.at(slowest, p_o, ex.acquire_s)  # the plane's exchange starts once its ring is up
        plane_done = slowest + ex.exchange_s
        tx, acquired = np.zeros(n), np.zeros(n)
        acquired[order] = terminal_overhead_w(sc.link_params.terminal_power_w) * ex.acquire_s
        tx[order] = 2 * (m - 1) * ex.chunk_e + acquired[order]
        done = np.zeros(n)
        done[order] = plane_done[p_o]
        cost = RoundCost(latency_s=float(plane_done.max(initial=0.0)), up_done_s=done, down_done_s=done,
                         compute_energy_j=np.where(plan.participating, load.energy_j(), 0.0), transmit_energy_j=tx,
                         static_energy_j=np.where(plan.participating, load.static_energy_j(), 0.0),
                         acquisition_energy_j=acquired)
        mix = self._mixing(ctx, plan)
        if mix is not None:
            cost.latency_s += add_mix(cost, mix, cost.latency_s)
        return cost
