"""Exception types of the learning layer and CLI."""

from __future__ import annotations


class FedSpanError(ValueError):
    """Base class for every error the learning layer raises on bad input."""


class FedSpanWarning(UserWarning):
    """Input that runs but probably does not mean what the user wanted (far from LEO, stale TLEs, ...)."""
