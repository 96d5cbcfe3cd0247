"""Name -> strategy class registry, so configs and the CLI pick policies by name."""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from fedspan.strategies.base import AggregationStrategy, StrategyError

_REGISTRY: dict[str, type[AggregationStrategy]] = {}
#: Name prefix -> resolver building the class for ``<prefix><rest>`` on demand (``flower:<Class>``).
_FAMILIES: dict[str, Callable[[str], type[AggregationStrategy]]] = {}
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


def register_strategy_family(prefix: str, resolver: Callable[[str], type[AggregationStrategy]]) -> None:
    """Names ``<prefix><rest>`` that are not registered resolve to ``resolver(name)`` (which raises
    StrategyError for a bad name). How ``fedspan.strategies.flower`` serves ``flower:<Class>`` without the
    registry importing it."""
    _FAMILIES[prefix] = resolver


def unregister_strategy(name: str) -> None:
    """Forget a registered name (a plugin unloading, a test cleaning up); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def strategy_names() -> tuple[str, ...]:
    """Registered names, sorted."""
    return tuple(sorted(_REGISTRY))


def strategy_class(name: str) -> type[AggregationStrategy]:
    """The class registered under ``name``, or the one a family resolver builds (Flower's strategy for
    ``flower:<Class>``, ``fedspan.strategies.flower``, which imports ``flwr`` only then); StrategyError lists
    the known names otherwise."""
    if name not in _REGISTRY:
        for prefix, resolver in _FAMILIES.items():
            if name.startswith(prefix):
                return resolver(name)
    if name not in _REGISTRY:
        raise StrategyError(f"unknown strategy '{name}' (choose from {', '.join(strategy_names())})")
    return _REGISTRY[name]


def make_strategy(name: str, **options: Any) -> AggregationStrategy:
    """Instantiate a registered strategy; unknown names and options raise StrategyError."""
    cls = strategy_class(name)
    _check_option_types(cls, name, options)
    try:
        return cls(**options)
    except TypeError as exc:
        raise StrategyError(f"strategy '{name}': bad options {options}: {exc}") from None


def _check_option_types(cls: type[AggregationStrategy], name: str, options: dict[str, Any]) -> None:
    """Text given for a numeric or boolean option (``sca_iters=abc``) is named before the policy is built."""
    parameters = inspect.signature(cls.__init__).parameters
    for key, value in options.items():
        if not isinstance(value, str):
            continue
        if key == "num_trees" and cls.takes_num_trees:  # a tree count: the class says so, not its annotation
            if value != "auto":
                raise StrategyError(f"strategy option {key}={value!r} for '{name}': expected an integer >= 1 or 'auto'")
            continue
        wanted = str(parameters[key].annotation) if key in parameters else ""
        if any(t in wanted for t in ("int", "float", "bool")) and "str" not in wanted:
            raise StrategyError(f"strategy option {key}={value!r} for '{name}': expected {wanted}")
