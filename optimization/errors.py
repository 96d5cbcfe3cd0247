"""Exception types of the optimization layer."""

from __future__ import annotations


class OptimizationError(ValueError):
    """Base class for every error the optimization layer raises on bad input or failure."""
