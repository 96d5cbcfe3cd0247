"""Rounds in which no two available satellites share a feasible link.

The docs promise that every isolated satellite gets its own tree. The reference forests handle
a graph without edges, but the optimizer cannot build a program without links, so for the
Fed-Span policy such a round is planned by the distance forest (one tree per satellite,
default resources) and flagged in the round's ``fallback`` column.
"""

from __future__ import annotations

import numpy as np

from fedspan.strategies.base import AggregationStrategy, RoundContext, RoundPlan


def no_link_among_available(ctx: RoundContext) -> bool:
    """True when no candidate link joins two satellites that are available this round."""
    available = np.asarray(ctx.available, bool) & np.asarray(ctx.snapshot.active, bool)
    edges = np.asarray(ctx.snapshot.edges).reshape(-1, 2)
    return available.any() and not (available[edges[:, 0]] & available[edges[:, 1]]).any()


def plan_round(strategy: AggregationStrategy, ctx: RoundContext) -> RoundPlan:
    """``strategy.plan_round(ctx)``, except that a Fed-Span round without links is one tree per satellite."""
    from fedspan.strategies.trees import DistanceMST, FedSpan

    if isinstance(strategy, FedSpan) and no_link_among_available(ctx):
        plan = DistanceMST(strategy.num_trees, strategy.mix_every).plan_round(ctx)
        plan.info = {**plan.info, "fallback": "no feasible link between the available satellites: "
                                              "each satellite is its own tree (default resources)"}
        return plan
    return strategy.plan_round(ctx)
