"""Relays that forward packet by packet (cut-through): the critical-path walk against a packet-level event
simulation written here from the definition, and every pricer of a round (walk, GP, GP reference, clock) on it."""

from __future__ import annotations

import numpy as np
import pytest

from optimization.costs import walk_forest


def random_forest(rng: np.random.Generator, n: int, roots: int) -> np.ndarray:
    """A random rooted forest: node i > roots - 1 hangs under an earlier node (so depths vary widely)."""
    parent = np.full(n, -1)
    for i in range(roots, n):
        parent[i] = rng.integers(0, i)
    perm = rng.permutation(n)
    inverse = np.argsort(perm)
    return np.where(parent[perm] >= 0, inverse[np.maximum(parent[perm], 0)], -1)


def packet_events(parent, ready, air_up, delay_up, air_down, delay_down, packets, earliest=None):
    """Packet by packet, from the definition: a link sends one packet at a time (air time air / packets); packet k of
    a node's partial sum exists once the node's own model is ready and packet k of every child has arrived; the root
    holds the new model when its sum is complete and sends it down the same way. Returns (up, down) as walk_forest."""
    n, m = len(parent), packets
    kids = [np.flatnonzero(parent == i) for i in range(n)]
    arrive = np.zeros((n, m))  # when packet k of node i's sum reaches its parent
    up = np.array(ready, float)

    def climb(i):
        for c in kids[i]:
            climb(c)
        have = np.full(m, float(ready[i]))
        for c in kids[i]:
            have = np.maximum(have, arrive[c])
        up[i] = have[-1] if len(kids[i]) else ready[i]
        if parent[i] < 0:
            return
        free = -np.inf if earliest is None else earliest[i]
        for k in range(m):
            begin = max(free, have[k])
            free = begin + air_up[i] / m
            arrive[i, k] = free + delay_up[i]

    down = up.copy()

    def descend(i, holds):  # holds[k]: when node i holds packet k of the new model
        down[i] = holds[-1]
        for c in kids[i]:
            free, got = -np.inf, np.zeros(m)
            for k in range(m):
                begin = max(free, holds[k])
                free = begin + air_down[c] / m
                got[k] = free + delay_down[c]
            descend(c, got)

    for r in np.flatnonzero(parent < 0):
        climb(r)
        descend(r, np.full(m, up[r]))
    return up, down


@pytest.mark.parametrize("seed", range(12))
def test_cut_through_walk_equals_a_packet_by_packet_event_simulation(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 30)), int(rng.integers(1, 9))
    parent = random_forest(rng, n, int(rng.integers(1, 3)))
    ready = rng.uniform(0, 5, n)
    air_up, air_down = rng.uniform(0.1, 4, n), rng.uniform(0.1, 4, n)
    delay_up, delay_down = rng.uniform(0, 0.5, n), rng.uniform(0, 0.5, n)
    earliest = rng.uniform(0, 6, n) if seed % 2 else None
    want_up, want_down = packet_events(parent, ready, air_up, delay_up, air_down, delay_down, m, earliest)
    got_up, got_down = walk_forest(parent, ready, air_up + delay_up, air_down + delay_down, earliest_send_s=earliest,
                                   up_packet_s=air_up / m + delay_up, down_packet_s=air_down / m + delay_down)
    np.testing.assert_allclose(got_up, want_up, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_down, want_down, rtol=1e-12, atol=1e-12)


def test_one_packet_per_model_is_store_and_forward_bit_for_bit():
    rng = np.random.default_rng(5)
    parent = random_forest(rng, 40, 2)
    ready, up_link, down_link = rng.uniform(0, 5, 40), rng.uniform(0, 3, 40), rng.uniform(0, 3, 40)
    earliest = rng.uniform(0, 6, 40)
    plain = walk_forest(parent, ready, up_link, down_link, earliest_send_s=earliest)
    whole = walk_forest(parent, ready, up_link, down_link, earliest_send_s=earliest, up_packet_s=up_link,
                        down_packet_s=down_link)
    for a, b in zip(plain, whole):
        assert np.array_equal(a, b)


def test_a_chain_pays_the_model_once_and_a_packet_per_hop():
    hops, model_s, packet_s = 22, 32.6, 0.52
    parent = np.r_[-1, np.arange(hops)]  # node i + 1 under node i: a string of 22 hops
    zero = np.zeros(hops + 1)
    link, packet = np.r_[0.0, np.full(hops, model_s)], np.r_[0.0, np.full(hops, packet_s)]
    up, down = walk_forest(parent, zero, link, link, up_packet_s=packet, down_packet_s=packet)
    assert up[0] == pytest.approx(model_s + (hops - 1) * packet_s)
    assert down.max() == pytest.approx(2 * (model_s + (hops - 1) * packet_s))
    stored = walk_forest(parent, zero, link, link)
    assert stored[1].max() == pytest.approx(2 * hops * model_s)


# ---------------------------------------------------------------- the program and its reference, with packets
from opt_program import arcs_of_forest  # noqa: E402
from test_opt_model import geometric_problem  # noqa: E402

from optimization import ObjectiveWeights, bfs_forest, distance_forest, evaluate  # noqa: E402
from optimization.defaults import fastest_feasible_resources  # noqa: E402
from optimization.forests import validate_forest  # noqa: E402
from optimization.formulation import Arcs, build_program  # noqa: E402
from optimization.gp_reference import GPReferenceSubproblem  # noqa: E402
from optimization.logspace import LogSpaceSubproblem  # noqa: E402
from optimization.sca_start import initial_point  # noqa: E402
from optimization.solvers import SOLVER_OPTIONS, default_chain  # noqa: E402

MODEL_BITS = 4e9  # airtime (~0.4-4 s a hop) well above the propagation delay: packets matter


def packet_problem(seed: int, n: int = 12, **kw):
    return geometric_problem(n, seed, radius=0.5, model_bits=MODEL_BITS, packet_bits=MODEL_BITS / 8, **kw)


def spread(p, parent, seed):
    """The fastest resources with some links below the rate cap and some clocks slowed."""
    rng = np.random.default_rng(seed)
    res = fastest_feasible_resources(p, parent)
    res.tx_power_w = res.tx_power_w * rng.uniform(0.2, 1.0, p.num_nodes)
    res.cpu_hz = res.cpu_hz * rng.uniform(0.5, 1.0, p.num_nodes)
    return res


@pytest.mark.parametrize("make", [distance_forest, bfs_forest])
@pytest.mark.parametrize("fixed", [True, False])
def test_program_at_a_forest_with_packets_is_the_cost_models_round(make, fixed):
    p = packet_problem(3, min_idle_s=1.0)
    parent = make(p)
    res = spread(p, parent, 3)
    costs = evaluate(p, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size, p.min_idle_s)
    whole = evaluate(p.__class__(**{**_fields(p), "packet_bits": None}), parent, res.cpu_hz, res.tx_power_w,
                     res.local_steps, res.batch_size, p.min_idle_s)
    assert costs.latency_s < 0.8 * whole.latency_s  # the packets shorten this round
    arcs = arcs_of_forest(parent, validate_forest(p, parent)) if fixed else Arcs.all_of(p)
    program = build_program(p, arcs, 1, fixed=fixed, penalty=0.0)
    z = initial_point(program, parent, res)
    assert program.violation(z) <= 1e-9
    assert np.exp(z[program.layout.slices["T"]][0]) == pytest.approx(costs.latency_s, rel=1e-9)


def _fields(p):
    from dataclasses import fields

    return {f.name: getattr(p, f.name) for f in fields(p) if f.init}


def test_with_resources_pinned_the_packet_rows_bind_the_latency():
    """Minimising latency alone at pinned resources gives back the walk's latency: no packet row is loose."""
    p = packet_problem(2, weights=ObjectiveWeights(0.0, 0.0, 1.0))
    parent = bfs_forest(p)
    res = spread(p, parent, 0)
    costs = evaluate(p, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size)
    program = build_program(p, arcs_of_forest(parent, validate_forest(p, parent)), 1, fixed=True)
    z0 = initial_point(program, parent, res)
    z, value, _ = LogSpaceSubproblem(program, default_chain()).solve(z0, 1e-9)
    assert np.exp(z[program.layout.slices["T"]][0]) == pytest.approx(costs.latency_s, rel=1e-3)


@pytest.mark.parametrize("fixed", [True, False])
def test_packet_subproblem_same_optimum_in_log_space_and_in_the_gp_reference(fixed):
    p = packet_problem(8, n=9)
    parent = distance_forest(p)
    arcs = arcs_of_forest(parent, validate_forest(p, parent)) if fixed else Arcs.all_of(p)
    program = build_program(p, arcs, 1, fixed=fixed)
    z0 = initial_point(program, parent, fastest_feasible_resources(p, parent))
    _, fast, rec_fast = LogSpaceSubproblem(program, default_chain()).solve(z0, 0.5)
    z_ref, ref, rec_ref = GPReferenceSubproblem(program, default_chain()).solve(z0, 0.5)
    both_ipm = {rec_fast.solver, rec_ref.solver} <= {"CLARABEL", "ECOS", "MOSEK"}
    assert fast == pytest.approx(ref, rel=2 * SOLVER_OPTIONS["CLARABEL"]["tol_gap_rel"] if both_ipm else 3e-3)
    assert program.violation(z_ref) <= 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_the_allocators_path_times_give_the_walks_latency_with_packets(seed):
    """optimization.resources sizes every clock from forest_times: each satellite's compute (or acquisition) plus
    its path up and its tree's slowest path down must be the round the walk prices, packets and all."""
    from optimization.costs import round_costs
    from optimization.valuation import forest_times

    rng = np.random.default_rng(seed)
    p = packet_problem(seed, n=14)
    p.acquisition_s = rng.uniform(0, 2, p.num_edges) * (rng.random(p.num_edges) < 0.3)
    parent = distance_forest(p) if seed % 2 else bfs_forest(p)
    res = spread(p, parent, seed)
    times = forest_times(p, parent, res.tx_power_w)
    rc = round_costs(p, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size)
    ready = np.maximum(rc.compute_time_s, times.acquire_s)
    assert float(np.max(ready + times.comm_s)) == pytest.approx(rc.latency_s, rel=1e-12)


def test_optimal_resources_with_packets_are_no_worse_than_the_fastest_and_priced_by_the_walk():
    from optimization.defaults import fastest_feasible_resources
    from optimization.resources import optimal_resources

    p = packet_problem(4, n=10)
    parent = bfs_forest(p)
    res, costs = optimal_resources(p, parent)
    again = evaluate(p, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size)
    assert again.latency_s == pytest.approx(costs.latency_s, rel=1e-12)
    fast = fastest_feasible_resources(p, parent)
    assert costs.objective <= evaluate(p, parent, fast.cpu_hz, fast.tx_power_w, fast.local_steps,
                                       fast.batch_size).objective * (1 + 1e-9)


def test_the_learning_clock_and_the_planner_price_a_packet_round_alike():
    from fedspan.clock import ComputeLoad, forest_round_cost

    rng = np.random.default_rng(7)
    p = packet_problem(7, n=15, terminal_power_w=5.0)
    p.acquisition_s = rng.uniform(0, 3, p.num_edges) * (rng.random(p.num_edges) < 0.4)
    parent = bfs_forest(p)
    res = spread(p, parent, 7)
    costs = evaluate(p, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size)
    uplink = validate_forest(p, parent)
    kids = parent >= 0
    rpw, delay, acq = (np.where(kids, arr[np.maximum(uplink, 0)], np.nan) for arr in
                       (p.rate_per_watt, p.delay_s, p.acquisition_s))
    r = p.resources
    load = ComputeLoad(cpu_hz=res.cpu_hz, local_steps=res.local_steps, batch_size=res.batch_size,
                       cycles_per_sample=r.cycles_per_sample, capacitance=r.capacitance, static_power_w=r.static_power_w)
    clock = forest_round_cost(parent, rpw, delay, p.model_bits, p.max_rate_bps, res.tx_power_w, load,
                              terminal_power_w=5.0, acquisition_s=np.nan_to_num(acq), packet_bits=p.packet_bits)
    assert clock.latency_s == pytest.approx(costs.latency_s, rel=1e-12)
    assert clock.energy_per_satellite_j == pytest.approx(costs.node_energy_j, rel=1e-12)
    stored = forest_round_cost(parent, rpw, delay, p.model_bits, p.max_rate_bps, res.tx_power_w, load,
                               terminal_power_w=5.0, acquisition_s=np.nan_to_num(acq))
    assert clock.latency_s < stored.latency_s and clock.energy_j == pytest.approx(stored.energy_j, rel=1e-12)


def test_the_root_exchange_forwards_packets_like_a_tree_path():
    """Roots 0 and 4 on a string of four hops: each path to the leader is a chain, priced as walk_forest prices one
    (one packet per hop and the slowest hop's model once), up and back; without packets, hop by hop."""
    from fedspan.clock import mixing_cost
    from optimization.exchange import exchange_route

    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
    rate = np.array([1e6, 2e6, 0.5e6, 1e6])
    delay = np.full(4, 0.01)
    bits, packet_bits = 8e6, 1e6
    hop, packet = bits / rate + delay, packet_bits / rate + delay
    route = exchange_route(5, edges, hop, np.array([0, 4]), packet_s=packet)
    # The leader is one of the two roots: the path is all four hops, walked as a chain from the far root.
    chain = np.array([-1, 0, 1, 2, 3])
    up, _ = walk_forest(chain, np.zeros(5), np.r_[0.0, hop], np.r_[0.0, hop], up_packet_s=np.r_[0.0, packet],
                        down_packet_s=np.r_[0.0, packet])
    assert route.latency_s == pytest.approx(2 * up[0], rel=1e-12)
    assert route.latency_s == pytest.approx(2 * (packet.sum() + (hop - packet).max()), rel=1e-12)
    stored = exchange_route(5, edges, hop, np.array([0, 4]))
    assert stored.latency_s == pytest.approx(2 * hop.sum()) and route.latency_s < stored.latency_s
    clock = mixing_cost(np.array([0, 4]), 5, edges, rate, delay, bits, np.ones(5), packet_bits=packet_bits)
    assert clock.latency_s == pytest.approx(route.latency_s, rel=1e-12)
    whole = mixing_cost(np.array([0, 4]), 5, edges, rate, delay, bits, np.ones(5))
    assert whole.latency_s == pytest.approx(stored.latency_s) and np.allclose(whole.transmit_energy_j,
                                                                              clock.transmit_energy_j)


def test_planner_prices_the_exchange_with_packets_too():
    from optimization.evaluate import mixing_costs

    p = packet_problem(5, n=12)
    roots = np.array([0, 5, 9])
    packets = mixing_costs(p, roots)
    whole = mixing_costs(p.__class__(**{**_fields(p), "packet_bits": None}), roots)
    assert packets[1] == pytest.approx(whole[1], rel=1e-12)  # the same bits cross the same links
    assert packets[0] <= whole[0]


def test_a_fault_after_a_relay_has_forwarded_its_packets_loses_nothing():
    """Relay 1 forwards leaf 2's packets as they come: its last packet is in at 11 s, not at 20 s (its sum complete
    at 10 s plus a whole model's 10 s). A fault on it at 16.5 s loses nothing (found by an independent review)."""
    from optimization.costs import forest_timeline
    from fedspan.faults import FaultEvent, tree_failures

    parent, ready = np.array([-1, 0, 1, 0]), np.array([0.0, 0.0, 0.0, 100.0])
    link, packet = np.array([0.0, 10.0, 10.0, 10.0]), np.array([0.0, 1.0, 1.0, 1.0])
    line = forest_timeline(parent, ready, link, link, up_packet_s=packet, down_packet_s=packet)
    assert line.delivered_s[1] == pytest.approx(11.0) and line.send_s[1] == pytest.approx(1.0)
    fault = [FaultEvent(round=0, kind="satellite", satellite=1, at_fraction=0.15)]  # 0.15 x 110 s = 16.5 s
    kept = tree_failures(fault, parent, np.ones(4, bool), line.up_s, link, np.ones(4), line.send_s, line.delivered_s)
    assert not kept.lost.any() and kept.dead[1]
    stored = tree_failures(fault, parent, np.ones(4, bool), line.up_s, link, np.ones(4))  # the whole-model timing
    assert stored.lost[1]


@pytest.mark.parametrize("packets", [True, False])
def test_path_times_give_the_walks_round_for_any_forest(packets):
    """The separable form the exact resources and the baselines' slowest-clock policy size clocks with."""
    from optimization.costs import path_times

    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(2, 25))
        parent = random_forest(rng, n, int(rng.integers(1, 3)))
        ready = rng.uniform(0, 5, n)
        up_link, down_link = rng.uniform(0.1, 4, n), rng.uniform(0.1, 4, n)
        up_packet = up_link / rng.integers(1, 9) if packets else None
        down_packet = down_link / rng.integers(1, 9) if packets else None
        _, down = walk_forest(parent, ready, up_link, down_link, up_packet_s=up_packet, down_packet_s=down_packet)
        up_path, root = path_times(parent, np.where(parent >= 0, up_link, 0), up_packet)
        down_path, _ = path_times(parent, np.where(parent >= 0, down_link, 0), down_packet)
        arrive = np.zeros(n)
        np.maximum.at(arrive, root, ready + up_path)
        dispatch = np.zeros(n)
        np.maximum.at(dispatch, root, down_path)
        assert float((arrive + dispatch).max()) == pytest.approx(float(down.max()), rel=1e-12)
