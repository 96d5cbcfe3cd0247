"""Name -> strategy class registry, so configs and the CLI pick policies by name."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from fedspan.strategies.base import AggregationStrategy, StrategyError

_REGISTRY: dict[str, type[AggregationStrategy]] = {}
S = TypeVar("S", bound=type[AggregationStrategy])


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: make a strategy available as ``make_strategy(name, **options)``."""
    def decorate(cls: S) -> S:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise StrategyError(f"strategy name '{name}' is already registered by {_REGISTRY[name].__name__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return decorate


def unregister_strategy(name: str) -> None:
    """Forget a registered name (a plugin unloading, a test cleaning up); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def strategy_names() -> tuple[str, ...]:
    """Registered names, sorted."""
    return tuple(sorted(_REGISTRY))


def strategy_class(name: str) -> type[AggregationStrategy]:
    """The class registered under ``name``; StrategyError lists the known names otherwise."""
    if name not in _REGISTRY:
        raise StrategyError(f"unknown strategy '{name}' (choose from {', '.join(strategy_names())})")
    return _REGISTRY[name]


def make_strategy(name: str, **options: Any) -> AggregationStrategy:
    """Instantiate a registered strategy; unknown names and options raise StrategyError."""
    cls = strategy_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise StrategyError(f"strategy '{name}': bad options {options}: {exc}") from None
