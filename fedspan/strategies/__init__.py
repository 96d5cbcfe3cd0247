"""Aggregation policies: Fed-Span and the baselines, behind one interface and a name registry.

Add your own by subclassing :class:`AggregationStrategy` and decorating it with
:func:`register_strategy` (see docs/strategies.md for a walk-through and the mapping to Flower's ``Strategy``).
"""

from fedspan.strategies.base import AggregationStrategy, RoundContext, RoundPlan, StrategyError
from fedspan.strategies.registry import (make_strategy, register_strategy, register_strategy_family, strategy_names,
                                        unregister_strategy)
from fedspan.strategies import flower, gossip, planes, replay, star, trees  # noqa: F401  (registers the built-ins)

__all__ = ["AggregationStrategy", "RoundContext", "RoundPlan", "StrategyError", "make_strategy",
           "register_strategy", "register_strategy_family", "strategy_names", "unregister_strategy"]
