"""Star FedAvg through ground stations: only satellites in view of a station take part."""

from __future__ import annotations

import numpy as np

from fedspan.clock import RoundCost
from fedspan.strategies.base import AggregationStrategy, RoundContext, RoundPlan, compute_load, default_resources
from fedspan.strategies.power import SIMPLE_POWER_MODES, check_power, with_slowest_clocks
from fedspan.strategies.registry import register_strategy


@register_strategy("star")
class GroundStar(AggregationStrategy):
    """Classic FedAvg with the server on the ground.

    A satellite downloads the global model, trains and uploads over its RF link only while a
    station sees it; satellites out of view keep their model and wait for a later round.
    ``power`` ("default" or "dvfs", :data:`~fedspan.strategies.power.SIMPLE_POWER_MODES`): "dvfs" runs the simple
    slowest-clock policy (:func:`~fedspan.strategies.power.slowest_clocks`): a satellite's own download and upload
    hold up no one else, so each trains as slowly as still ends the round at the slowest visible satellite's
    time (or the deadline); the RF link has a fixed rate, so the transmit power is not managed.
    """

    tree_clock = False

    def __init__(self, power: str = "default") -> None:
        self.power = check_power(self.name, power, SIMPLE_POWER_MODES)

    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """Every visible satellite is its own root, all feeding the single global model."""
        links = ctx.scenario.ground_links(ctx.time_s)
        n = len(ctx.available)
        plan = RoundPlan(parent=np.full(n, -1, np.int64), tree_of=np.zeros(n, np.int64),
                         participating=ctx.available & links.visible, info={"visible": int(links.visible.sum())},
                         **default_resources(ctx))
        if self.power == "default":
            return plan
        return with_slowest_clocks(self, ctx, plan, 2 * self._hop_s(ctx, plan))

    @staticmethod
    def _hop_s(ctx: RoundContext, plan: RoundPlan) -> np.ndarray:
        """(N,) s of one model transfer over each participant's ground link (0 for the others)."""
        links = ctx.scenario.ground_links(ctx.time_s)
        on = plan.participating
        return np.where(on, ctx.scenario.model_bits / np.where(on, links.rate_bps, 1.0) + links.delay_s, 0.0)

    def round_cost(self, ctx: RoundContext, plan: RoundPlan) -> RoundCost:
        """Download, train, upload per visible satellite; the slowest one sets the round."""
        links = ctx.scenario.ground_links(ctx.time_s)
        bits = ctx.scenario.model_bits
        on = plan.participating
        hop = self._hop_s(ctx, plan)
        load = compute_load(ctx, plan)
        done = np.where(on, hop + load.time_s() + hop, 0.0)
        # The station's downlink is ground-powered; the satellite pays for its upload.
        tx = np.where(on, links.tx_power_w * bits / np.where(on, links.rate_bps, 1.0), 0.0)
        return RoundCost(latency_s=float(done.max(initial=0.0)), up_done_s=done - hop, down_done_s=done,
                         compute_energy_j=np.where(on, load.energy_j(), 0.0), transmit_energy_j=tx)
