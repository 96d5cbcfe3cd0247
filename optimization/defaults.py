"""Feasible default resources for a forest: full speed and power, lowered only where a budget binds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.costs import compute_costs, energy_optimal_clock, fastest_clock_within, round_costs
from optimization.errors import InfeasibleBudgetError
from optimization.forests import validate_forest
from optimization.problem import SpanningProblem


@dataclass
class Resources:
    """Per-satellite decision variables other than the topology (SI units; steps and batches integral)."""

    cpu_hz: np.ndarray
    tx_power_w: np.ndarray
    local_steps: np.ndarray
    batch_size: np.ndarray


def check_budgets_reachable(problem: SpanningProblem) -> None:
    """Raise when a satellite's budget is below its cheapest possible compute energy."""
    res = problem.resources
    e_lo = problem.step_bounds()[0]
    b_lo = problem.batch_limits()[0]
    if not (res.static_power_w > 0).any():
        least = 0.5 * res.capacitance * e_lo * b_lo * res.cycles_per_sample * res.min_cpu_hz**2
        clock = res.min_cpu_hz
    else:
        clock = energy_optimal_clock(res.capacitance, res.static_power_w, res.min_cpu_hz, res.max_cpu_hz)
        _, dynamic, static = compute_costs(e_lo, b_lo, res.cycles_per_sample, clock, res.capacitance,
                                           res.static_power_w)
        least = dynamic + static
    short = least > res.energy_budget_j
    if short.any():
        i = int(np.flatnonzero(short)[0])
        raise InfeasibleBudgetError(
            f"satellite {i}: energy budget {res.energy_budget_j[i]:.4g} J per round is below {least[i]:.4g} J, the "
            f"compute energy of {e_lo:g} step(s) of batch {b_lo[i]:g} at its cheapest clock {clock[i]:.3g} Hz"
        )


def fastest_feasible_resources(problem: SpanningProblem, parent: np.ndarray) -> Resources:
    """Fastest resources within each satellite's energy budget on `parent` (fewest steps, smallest batch)."""
    res = problem.resources
    n = problem.num_nodes
    out = Resources(
        cpu_hz=res.max_cpu_hz.copy(),
        tx_power_w=res.max_tx_power_w.copy(),
        local_steps=np.full(n, problem.step_bounds()[0]),
        batch_size=problem.batch_limits()[0].copy(),
    )
    costs = round_costs(problem, parent, out.cpu_hz, out.tx_power_w, out.local_steps, out.batch_size)
    over = costs.node_energy_j > res.energy_budget_j
    if not over.any():
        return out
    # Transmit energy is least at any power below the rate cap, so lower power there first.
    uplink = validate_forest(problem, parent)
    cap_power = np.full(n, np.inf)
    kids = np.flatnonzero(parent >= 0)
    knee = problem.max_rate_bps / problem.rate_per_watt[uplink[kids]]
    np.minimum.at(cap_power, kids, knee)
    np.minimum.at(cap_power, parent[kids], knee)
    out.tx_power_w = np.where(over, np.clip(cap_power, res.min_tx_power_w, res.max_tx_power_w), out.tx_power_w)
    costs = round_costs(problem, parent, out.cpu_hz, out.tx_power_w, out.local_steps, out.batch_size)
    work = out.local_steps * out.batch_size * res.cycles_per_sample
    _, dynamic, static = compute_costs(out.local_steps, out.batch_size, res.cycles_per_sample, out.cpu_hz,
                                       res.capacitance, res.static_power_w)
    link_e = costs.node_energy_j - (dynamic + static)
    room = res.energy_budget_j - link_e
    floor = energy_optimal_clock(res.capacitance, res.static_power_w, res.min_cpu_hz, res.max_cpu_hz)
    f_fit = fastest_clock_within(work, room, res.capacitance, res.static_power_w, floor,
                                 np.where(res.static_power_w > 0, res.max_cpu_hz, np.inf))
    short = over & (f_fit < floor)
    if short.any():
        i = int(np.flatnonzero(short)[0])
        _, dyn_i, stat_i = compute_costs(out.local_steps[i], out.batch_size[i], res.cycles_per_sample[i], floor[i],
                                         res.capacitance[i], res.static_power_w[i])
        need = link_e[i] + dyn_i + stat_i
        raise InfeasibleBudgetError(
            f"satellite {i}: energy budget {res.energy_budget_j[i]:.4g} J per round is below {need:.4g} J, the least it "
            f"needs on the distance forest (compute at {floor[i]:.3g} Hz plus {link_e[i]:.4g} J of model transfers)"
        )
    out.cpu_hz = np.where(over, np.minimum(f_fit * (1 - 1e-9), res.max_cpu_hz), out.cpu_hz)
    return out
