"""From a relaxed SCA point to integral plans: candidate forests on its support, integral steps and batches."""

from __future__ import annotations

import numpy as np

from optimization.costs import link_costs
from optimization.defaults import Resources, default_resources
from optimization.errors import OptimizationError
from optimization.evaluate import PlanCosts, evaluate
from optimization.forests import kruskal_forest
from optimization.formulation import Arcs
from optimization.problem import SpanningProblem


def integral_resources(problem: SpanningProblem, res: Resources, rounder=np.floor) -> Resources:
    """Clip to bounds and round steps and batches with `rounder` (floor keeps energy budgets feasible)."""
    r = problem.resources
    e_lo, e_hi = problem.step_bounds()
    b_lo, b_hi = problem.batch_limits()
    return Resources(
        cpu_hz=np.clip(res.cpu_hz, r.min_cpu_hz, r.max_cpu_hz),
        tx_power_w=np.clip(res.tx_power_w, r.min_tx_power_w, r.max_tx_power_w),
        local_steps=np.clip(rounder(res.local_steps * (1 + 1e-9)), e_lo, e_hi),
        batch_size=np.clip(rounder(res.batch_size * (1 + 1e-9)), b_lo, b_hi),
    )


def edge_costs(problem: SpanningProblem, res: Resources) -> tuple[np.ndarray, np.ndarray]:
    """Per undirected edge: energy of one model each way, and the up+down link time, at the given powers."""
    e = np.arange(problem.num_edges)
    a, b = problem.edges[:, 0], problem.edges[:, 1]
    t_ab, j_ab = link_costs(problem, e, res.tx_power_w[a])
    t_ba, j_ba = link_costs(problem, e, res.tx_power_w[b])
    return j_ab + j_ba, t_ab + t_ba


def candidate_forests(
    problem: SpanningProblem, num_trees: int, res: Resources, arcs: Arcs | None = None, x: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Exact forests (Kruskal, degree- and root-aware) on weights from the SCA point and the true per-edge costs."""
    energy, time_ = edge_costs(problem, res)
    out = {
        "energy-mst": kruskal_forest(problem, energy, num_trees, root_weights=time_),
        "latency-mst": kruskal_forest(problem, time_, num_trees, root_weights=time_),
    }
    if x is not None and arcs is not None:
        pref = np.bincount(arcs.edge, weights=x, minlength=problem.num_edges)
        out["sca-support"] = kruskal_forest(problem, -pref, num_trees, root_weights=time_)
        blend = energy / energy.mean() + time_ / time_.mean()
        out["sca-weighted"] = kruskal_forest(problem, blend * (2.0 - np.minimum(pref, 1.0)), num_trees, root_weights=time_)
    return out


def fit_to_forest(problem: SpanningProblem, parent: np.ndarray, res: Resources) -> tuple[Resources, PlanCosts] | None:
    """Best integral rounding (down, nearest, up) of steps and batches within budgets, else default resources."""
    fits = []
    for rounder in (np.floor, np.rint, np.ceil):
        r = integral_resources(problem, res, rounder)
        costs = evaluate(problem, parent, r.cpu_hz, r.tx_power_w, r.local_steps, r.batch_size, problem.min_idle_s)
        if costs.within_budgets(problem):
            fits.append((costs.objective, r, costs))
    if fits:
        _, r, costs = min(fits, key=lambda f: f[0])
        return r, costs
    try:
        r = default_resources(problem, parent)
    except OptimizationError:
        return None
    return r, evaluate(problem, parent, r.cpu_hz, r.tx_power_w, r.local_steps, r.batch_size, problem.min_idle_s)
