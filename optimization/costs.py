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


def transfer_costs(bits: float | np.ndarray, rate_per_watt: np.ndarray, power_w: np.ndarray, max_rate_bps: float,
                   delay_s: float | np.ndarray = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and sender energy (J) of sending `bits` over links given as plain arrays.

    The one home of the link-time formula ``S / min(rate_per_watt * P, cap) + delay``; the
    energy is ``P * S / min(rate_per_watt * P, cap)`` (airtime only, no propagation delay).
    """
    power_w = np.asarray(power_w, dtype=float)
    rate = np.minimum(np.asarray(rate_per_watt, dtype=float) * power_w, max_rate_bps)
    airtime = bits / rate
    return airtime + delay_s, power_w * airtime


def link_costs(problem: SpanningProblem, edge: np.ndarray, tx_power_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and energy (J) of sending the model over `edge` at power `tx_power_w`."""
    return transfer_costs(problem.model_bits, problem.rate_per_watt[edge], tx_power_w, problem.max_rate_bps,
                          problem.delay_s[edge])


def round_costs(
    problem: SpanningProblem,
    parent: np.ndarray,
    cpu_hz: np.ndarray,
    tx_power_w: np.ndarray,
    local_steps: np.ndarray,
    batch_size: np.ndarray,
) -> RoundCosts:
    """Critical-path latency and total energy of spanning aggregation plus dispatch on `parent`.

    The round latency and energy model written out in docs/architecture.md, after the system model of the
    Fed-Span paper [1]_.

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations,
       arXiv:2509.24932, 2025.
    """
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
