"""Exception types of the optimization layer."""

from __future__ import annotations


class OptimizationError(ValueError):
    """Base class for every error the optimization layer raises on bad input or failure."""


class InvalidProblemError(OptimizationError):
    """A problem field has the wrong shape, type or value."""


class NonFiniteInputError(InvalidProblemError):
    """An input array holds NaN or infinity where a finite number is required."""


class DisconnectedGraphError(OptimizationError):
    """The candidate graph has more components than the fixed number of trees allows."""


class RootEligibilityError(OptimizationError):
    """A component of the candidate graph holds no satellite that may be a root."""


class DegreeInfeasibleError(OptimizationError):
    """No spanning forest over the candidate edges respects the terminal counts."""


class InfeasibleBudgetError(OptimizationError):
    """A satellite's energy budget is below the least energy it needs per round."""


class InvalidForestError(OptimizationError):
    """A parent array is not a spanning forest over the candidate edges."""


class SolverFailedError(OptimizationError):
    """Every solver in the fallback chain failed on an inner convex problem."""
