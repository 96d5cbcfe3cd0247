"""From a relaxed SCA point to forests: exact degree- and root-aware forests on weights from its arc values."""

from __future__ import annotations

import numpy as np

from optimization.costs import link_costs
from optimization.defaults import Resources
from optimization.forests import kruskal_forest
from optimization.formulation import Arcs
from optimization.problem import SpanningProblem


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
