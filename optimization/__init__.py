"""Optimization layer: MST/MSF as continuous constraints, cost and convergence models,
and the joint geometric program solved by successive convex approximation."""

from optimization.errors import OptimizationError

__all__ = ["OptimizationError"]
