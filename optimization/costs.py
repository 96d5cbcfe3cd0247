"""The round cost model of docs/architecture.md: compute, links, critical-path latency, energy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.forests import forest_depths, validate_forest
from optimization.problem import SpanningProblem


@dataclass(frozen=True)
class RoundCosts:
    """Latency and energy of one round of a forest with given resources, with per-satellite detail."""

    latency_s: float
    energy_j: float
    compute_time_s: np.ndarray
    up_time_s: np.ndarray
    down_time_s: np.ndarray
    node_energy_j: np.ndarray


def link_costs(problem: SpanningProblem, edge: np.ndarray, tx_power_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and energy (J) of sending the model over `edge` at power `tx_power_w`."""
    rate = np.minimum(problem.rate_per_watt[edge] * tx_power_w, problem.max_rate_bps)
    airtime = problem.model_bits / rate
    return airtime + problem.delay_s[edge], tx_power_w * airtime


def round_costs(
    problem: SpanningProblem,
    parent: np.ndarray,
    cpu_hz: np.ndarray,
    tx_power_w: np.ndarray,
    local_steps: np.ndarray,
    batch_size: np.ndarray,
) -> RoundCosts:
    """Critical-path latency and total energy of spanning aggregation plus dispatch on `parent`."""
    res = problem.resources
    parent = np.asarray(parent)
    uplink = validate_forest(problem, parent)
    work = local_steps * batch_size * res.cycles_per_sample
    compute_t = work / cpu_hz
    compute_e = 0.5 * res.capacitance * work * cpu_hz**2
    kids = np.flatnonzero(parent >= 0)
    up_t, up_e = link_costs(problem, uplink[kids], tx_power_w[kids])
    down_t, down_e = link_costs(problem, uplink[kids], tx_power_w[parent[kids]])
    depth = forest_depths(parent).astype(int)
    up = compute_t.astype(float).copy()
    kid_depth = depth[kids]
    # Level by level: a parent finishes after its slowest child's model has arrived.
    for level in range(int(depth.max()), 0, -1):
        sel = kid_depth == level
        np.maximum.at(up, parent[kids[sel]], up[kids[sel]] + up_t[sel])
    down = np.where(parent < 0, up, 0.0)
    for level in range(1, int(depth.max()) + 1):
        sel = kid_depth == level
        down[kids[sel]] = down[parent[kids[sel]]] + down_t[sel]
    node_e = compute_e.copy()
    np.add.at(node_e, kids, up_e)
    np.add.at(node_e, parent[kids], down_e)
    return RoundCosts(
        latency_s=float(down.max()),
        energy_j=float(node_e.sum()),
        compute_time_s=compute_t,
        up_time_s=up,
        down_time_s=down,
        node_energy_j=node_e,
    )
