"""`evaluate`: the single definition of a plan's latency, energy, bound and normalised objective."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.bound import bound_terms
from optimization.costs import round_costs
from optimization.defaults import default_resources
from optimization.errors import InvalidProblemError
from optimization.forests import components, distance_forest, resolve_trees
from optimization.problem import SpanningProblem, as_vector


@dataclass(frozen=True)
class PlanCosts:
    """Costs of one round of a plan, with per-satellite energy and finish times."""

    latency_s: float
    energy_j: float
    bound: float
    objective: float
    node_energy_j: np.ndarray
    up_time_s: np.ndarray
    down_time_s: np.ndarray

    def within_budgets(self, problem: SpanningProblem, rtol: float = 1e-6) -> bool:
        """Whether every satellite's round energy fits its budget."""
        return bool((self.node_energy_j <= problem.resources.energy_budget_j * (1 + rtol)).all())


def objective_scales(problem: SpanningProblem) -> tuple[float, float, float]:
    """Normalisers (bound, energy, latency): explicit ones, else the distance forest with default resources."""
    if problem.weights.scales is not None:
        return problem.weights.scales
    if "scales" not in problem.cache:
        # At least one tree per component, so scoring any plan works even when num_trees is too small.
        parent = distance_forest(problem, max(resolve_trees(problem), int(components(problem).max()) + 1))
        r = default_resources(problem, parent)
        raw = _raw(problem, parent, r.cpu_hz, r.tx_power_w, r.local_steps, r.batch_size, problem.min_idle_s)
        problem.cache["scales"] = raw
    return problem.cache["scales"]


def _raw(problem, parent, cpu_hz, tx_power_w, local_steps, batch_size, idle_s) -> tuple[float, float, float]:
    """Unnormalised (bound, energy, latency)."""
    rc = round_costs(problem, parent, cpu_hz, tx_power_w, local_steps, batch_size)
    k = int((np.asarray(parent) < 0).sum())
    b = bound_terms(problem.learning, problem.resources.num_samples, local_steps, batch_size, rc.latency_s, idle_s, k)
    return b.total, rc.energy_j, rc.latency_s


def evaluate(
    problem: SpanningProblem,
    parent: np.ndarray,
    cpu_hz: np.ndarray | float,
    tx_power_w: np.ndarray | float,
    local_steps: np.ndarray | float,
    batch_size: np.ndarray | float,
    idle_s: np.ndarray | float = 0.0,
) -> PlanCosts:
    """Round latency, energy, convergence bound and weighted objective of a forest with given resources."""
    n = problem.num_nodes
    f = as_vector("cpu_hz", cpu_hz, n)
    p = as_vector("tx_power_w", tx_power_w, n)
    e = as_vector("local_steps", local_steps, n)
    b = as_vector("batch_size", batch_size, n)
    idle = as_vector("idle_s", idle_s, n, positive=False)
    if (idle < 0).any():
        raise InvalidProblemError(f"idle_s[{int(np.flatnonzero(idle < 0)[0])}] must be >= 0")
    rc = round_costs(problem, np.asarray(parent), f, p, e, b)
    k = int((np.asarray(parent) < 0).sum())
    bound = bound_terms(problem.learning, problem.resources.num_samples, e, b, rc.latency_s, idle, k).total
    sb, se, st = objective_scales(problem)
    w = problem.weights
    objective = w.loss * bound / sb + w.energy * rc.energy_j / se + w.latency * rc.latency_s / st
    return PlanCosts(rc.latency_s, rc.energy_j, float(bound), float(objective), rc.node_energy_j, rc.up_time_s, rc.down_time_s)
