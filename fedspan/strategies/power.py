"""Power management every baseline can run with (``--strategy-options power=...``): one home for the policies.

* :data:`POWER_MODES` and :func:`check_power`: the modes and the one-line error for a bad one.
* :func:`forest_power`: exact clocks and powers ("dvfs") or exact clocks, powers, steps and batches ("exact") on a
  policy's own forest, when that forest is made of the round's candidate links (``optimization.resources``).
* :func:`slowest_clocks` and :func:`with_slowest_clocks`: the simple DVFS policy for patterns the exact allocator
  cannot price (ring all-reduce, gossip, the ground star, a plane chain over links outside the candidate graph):
  each satellite runs the slowest clock that does not lengthen the round (back to back) or that still meets the
  deadline (on a cadence), never below the energy-optimal clock and never above its maximum; transmit powers stay
  at their maximum.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from fedspan.strategies.base import RoundContext, RoundPlan, StrategyError, plan_links
from optimization import OptimizationError
from optimization.costs import (compute_costs, energy_optimal_clock, fastest_clock_within, path_times,
                                terminal_overhead_w, transfer_costs)

#: Power management a baseline may run with (``--strategy-options power=...``):
#: "default": every clock and transmitter at full power with the run's steps and batch ("race to idle");
#: "dvfs": the run's steps and batch with slower clocks where the round leaves slack -- chosen exactly for the
#: objective on a forest of candidate links (``optimization.resources.ForestValuer``), else by
#: :func:`slowest_clocks`;
#: "exact": clocks, powers, local steps and batches chosen exactly on the policy's own forest, as Fed-Span does
#: on its forest (``optimization.resources.optimal_resources``; forest policies and ``fedisl`` only).
POWER_MODES = ("default", "dvfs", "exact")
#: The modes of policies that are not forests of candidate links (``ring``, ``gossip``, ``star``).
SIMPLE_POWER_MODES = ("default", "dvfs")
#: Relative margin by which :func:`slowest_clocks` finishes before the synchronisation point, so rounding never
#: makes a managed round a few ulps longer than the race-to-idle one.
TIME_MARGIN = 1e-9


def check_power(strategy: str, power: str, modes: tuple[str, ...] = POWER_MODES) -> str:
    """``power`` if it is one of ``modes``, else a one-line StrategyError naming the allowed values."""
    if power not in modes:
        raise StrategyError(f"strategy '{strategy}': power must be one of {', '.join(modes)}, got {power!r}")
    return power


def resource_overrides(res: Any) -> dict[str, np.ndarray]:
    """A plan's or a ``Resources``' clocks (Hz) and powers (W), and its steps and batches as integers >= 1."""
    return {"cpu_hz": np.asarray(res.cpu_hz, float), "tx_power_w": np.asarray(res.tx_power_w, float),
            "local_steps": np.maximum(np.rint(res.local_steps), 1).astype(np.int64),
            "batch_size": np.maximum(np.rint(res.batch_size), 1).astype(np.int64)}


def forest_power(ctx: RoundContext, problem: Any, parent: np.ndarray, power: str) -> dict[str, Any]:
    """Resource overrides of power mode ``power`` on the forest ``parent`` over ``problem``'s nodes.

    Empty for "default"; "dvfs": the run's steps and batch, clocks (Hz) and powers (W) chosen exactly
    (``ForestValuer``); "exact": ``optimal_resources`` (clocks, powers, steps, batches). The overrides are indexed
    like ``problem``'s nodes and carry ``info`` (``{"power": mode, ...}``, a ``fallback`` when it fails: the
    policy then keeps its default resources).
    """
    if power == "default":
        return {}
    from optimization.resources import ForestValuer, optimal_resources

    try:
        if power == "exact":
            res, costs = optimal_resources(problem, parent)
            return {**resource_overrides(res), "info": {"power": "exact", "objective": costs.objective}}
        n = problem.num_nodes  # the run's steps and batch, as the policy trains them
        steps, batch = np.full(n, float(ctx.local_steps)), np.full(n, float(ctx.batch_size))
        valued = ForestValuer(problem, steps, batch, np.zeros(n)).value(parent)
    except OptimizationError as exc:
        return {"info": {"power": power, "fallback": f"power management failed: {exc}"}}
    if valued is None:
        return {"info": {"power": "dvfs", "fallback": "no clocks fit the budgets at the run's steps and batch"}}
    return {"cpu_hz": valued.cpu_hz, "tx_power_w": valued.tx_power_w, "info": {"power": "dvfs"}}


def slowest_clocks(ctx: RoundContext, plan: RoundPlan, round_time_s: float, comm_time_s: np.ndarray | float,
                   comm_energy_j: np.ndarray | None = None) -> np.ndarray:
    """(N,) Hz: each participant's slowest clock that keeps the round's timing, boxed to the energy-optimal clock.

    ``plan`` gives the work (its local steps and batch) and the participants; ``round_time_s`` (s) is the
    round's latency with every clock at its maximum, ``comm_time_s`` (s, (N,) or one for all) the time on a
    satellite's critical path outside its own compute: what must still happen after its compute (and before
    it: a star's download) for the round to end. A satellite's compute may take ``end - comm_time_s`` with
    ``end`` the race-to-idle round time back to back (the round is not lengthened), or on a cadence the later
    of the deadline (``ctx.deadline_s``) and that time (a round that met its deadline still does). The clock is
    the one finishing just then (a ``TIME_MARGIN`` early), but never below
    ``optimization.costs.energy_optimal_clock`` (static power makes slower clocks cost more) and never above
    ``max_cpu_hz``; compute energy is convex with its minimum at that floor, so it never exceeds the full
    clock's. With a per-round budget (``ctx.energy_budget_j``, J) and ``comm_energy_j`` (J, the satellite's
    link energy), a satellite whose compute would not fit ``budget - comm_energy_j`` runs the fastest clock that
    fits (``optimization.costs.fastest_clock_within``; that can lengthen the round) where one at or above the
    floor exists. Non-participants keep ``plan.cpu_hz``.
    """
    res = ctx.scenario.resources
    cycles_per_sample = np.asarray(res.cycles_per_sample, float)
    capacitance, static = np.asarray(res.capacitance, float), np.asarray(res.static_power_w, float)
    top = np.asarray(res.max_cpu_hz, float)
    steps, batch = np.asarray(plan.local_steps, float), np.asarray(plan.batch_size, float)
    cycles = steps * batch * cycles_per_sample
    floor = energy_optimal_clock(capacitance, static, np.asarray(res.min_cpu_hz, float), top)
    end = float(round_time_s) if ctx.deadline_s is None else max(float(round_time_s), float(ctx.deadline_s))
    window = (end - np.asarray(comm_time_s, float)) * (1.0 - TIME_MARGIN)
    with np.errstate(divide="ignore", invalid="ignore"):
        timing = np.where(window > 0, cycles / np.where(window > 0, window, 1.0), np.inf)
    clock = np.clip(timing, floor, top)
    if ctx.energy_budget_j is not None and comm_energy_j is not None:
        room = np.asarray(ctx.energy_budget_j, float) - np.asarray(comm_energy_j, float)
        _, dynamic, static_e = compute_costs(steps, batch, cycles_per_sample, clock, capacitance, static)
        over = dynamic + static_e > room
        if over.any():
            fits = fastest_clock_within(cycles, room, capacitance, static, floor, clock)
            clock = np.where(over & (fits >= floor * (1 - 1e-12)), fits, clock)
    return np.where(plan.participating, clock, plan.cpu_hz)


def with_slowest_clocks(strategy: Any, ctx: RoundContext, plan: RoundPlan, comm_time_s: np.ndarray | float,
                        info: dict[str, Any] | None = None) -> RoundPlan:
    """``plan`` (race to idle) with :func:`slowest_clocks` priced on the strategy's own clock (``round_cost``).

    ``comm_time_s`` (s) as in :func:`slowest_clocks`; ``info`` is added to the plan's (``{"power": "dvfs"}`` by
    default).
    """
    cost = strategy.round_cost(ctx, plan)
    clocks = slowest_clocks(ctx, plan, cost.latency_s, comm_time_s, cost.transmit_energy_j)
    return replace(plan, cpu_hz=clocks, info={**plan.info, **(info or {"power": "dvfs"})})


def forest_comm_s(ctx: RoundContext, plan: RoundPlan, latency_s: float, down_done_s: np.ndarray) -> np.ndarray:
    """(N,) s: on a forest plan, each satellite's time outside its compute on the round's critical path.

    Its uplink path to its root, the slowest dispatch of its tree (links at the plan's powers, the snapshot's
    candidate links or the laser budget at the current distance: ``plan_links``), and what the round adds
    after the last dispatch (``latency_s - max(down_done_s)``: the root-to-root exchange). Input of
    :func:`slowest_clocks` for a forest the exact allocator cannot price.
    """
    parent = np.asarray(plan.parent)
    n = len(parent)
    sc = ctx.scenario
    rpw, delay = plan_links(ctx, parent)
    kids = np.flatnonzero(parent >= 0)
    over = terminal_overhead_w(sc.link_params.terminal_power_w)
    packet_bits = sc.link_params.packet_bits
    link, packet = np.zeros((2, n)), None if not 0 < packet_bits < sc.model_bits else np.zeros((2, n))
    for way, sender in enumerate((kids, parent[kids])):  # up: each child sends; down: its parent does
        link[way, kids], _ = transfer_costs(sc.model_bits, rpw[kids], plan.tx_power_w[sender],
                                            sc.link_params.max_rate_bps, delay[kids], over)
        if packet is not None:
            packet[way, kids], _ = transfer_costs(packet_bits, rpw[kids], plan.tx_power_w[sender],
                                                  sc.link_params.max_rate_bps, delay[kids])
    up_path, root_of = path_times(parent, link[0], None if packet is None else packet[0])
    down_path, _ = path_times(parent, link[1], None if packet is None else packet[1])
    dispatch = np.zeros(n)
    np.maximum.at(dispatch, root_of, down_path)
    after = max(float(latency_s) - float(np.max(down_done_s, initial=0.0)), 0.0)
    return up_path + dispatch[root_of] + after
