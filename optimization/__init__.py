"""Optimization layer: MST/MSF as continuous constraints, cost and convergence models,
and the joint geometric program solved by successive convex approximation."""

from optimization.errors import (
    DegreeInfeasibleError,
    DisconnectedGraphError,
    InfeasibleBudgetError,
    InvalidForestError,
    InvalidProblemError,
    NonFiniteInputError,
    OptimizationError,
    RootEligibilityError,
    SolverFailedError,
)
from optimization.evaluate import PlanCosts, evaluate
from optimization.forests import bfs_forest, distance_forest, random_forest
from optimization.plan import PlanStatus, SpanningPlan
from optimization.planner import SolveOptions, solve
from optimization.problem import (
    LearningConstants,
    ObjectiveWeights,
    SatelliteResources,
    SpanningProblem,
    TreeCount,
    fixed_tree_count,
    parse_tree_count,
)
from optimization.sca import SCAOptions

__all__ = [
    "DegreeInfeasibleError",
    "DisconnectedGraphError",
    "InfeasibleBudgetError",
    "InvalidForestError",
    "InvalidProblemError",
    "LearningConstants",
    "NonFiniteInputError",
    "ObjectiveWeights",
    "OptimizationError",
    "PlanCosts",
    "PlanStatus",
    "RootEligibilityError",
    "SCAOptions",
    "SatelliteResources",
    "SolveOptions",
    "SolverFailedError",
    "SpanningPlan",
    "SpanningProblem",
    "TreeCount",
    "fixed_tree_count",
    "parse_tree_count",
    "bfs_forest",
    "distance_forest",
    "evaluate",
    "random_forest",
    "solve",
]
