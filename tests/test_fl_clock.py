"""Simulated clock and ledger: event walk vs a recursive reference, mixing, serialisation."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fedspan.clock import ClockError, ComputeLoad, EnergyLedger, RoundRecord, edge_index, forest_round_cost, mixing_cost
from fl_links import forest_links


def tree_instance(seed: int, n: int, k: int):
    """A random forest whose edges are the candidate links, with random rates and resources."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    parent = np.full(n, -1)
    for pos in range(k, n):
        parent[order[pos]] = order[rng.integers(0, pos)]
    child = np.flatnonzero(parent >= 0)
    edges = np.sort(np.c_[child, parent[child]], axis=1)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    rpw = rng.uniform(1e8, 5e9, len(edges))
    delay = rng.uniform(1e-3, 2e-2, len(edges))
    load = ComputeLoad(cpu_hz=rng.uniform(0.5e9, 1.5e9, n), local_steps=rng.integers(1, 5, n).astype(float),
                       batch_size=rng.integers(8, 64, n).astype(float), cycles_per_sample=np.full(n, 1e7),
                       capacitance=np.full(n, 1e-28))
    power = rng.uniform(0.2, 2.0, n)
    return parent, edges, rpw, delay, load, power


def reference_cost(parent, edges, rpw, delay, load, power, bits, max_rate):
    """Textbook recursion of the cost model of docs/architecture.md, one node at a time."""
    n = len(parent)
    link = {}
    for (a, b), r, d in zip(edges, rpw, delay):
        link[(a, b)] = link[(b, a)] = (r, d)
    children = {i: [c for c in range(n) if parent[c] == i] for i in range(n)}
    t = load.time_s()

    def up(i):
        arrivals = [up(c) + bits / min(link[(c, i)][0] * power[c], max_rate) + link[(c, i)][1] for c in children[i]]
        return max([t[i]] + arrivals)

    def down(i):
        if parent[i] < 0:
            return up(i)
        p = parent[i]
        return down(p) + bits / min(link[(p, i)][0] * power[p], max_rate) + link[(p, i)][1]

    latency = max(down(i) for i in range(n))
    energy = load.energy_j().sum()
    for c in range(n):
        if parent[c] >= 0:
            r = link[(c, parent[c])][0]
            energy += power[c] * bits / min(r * power[c], max_rate) + power[parent[c]] * bits / min(r * power[parent[c]], max_rate)
    return latency, energy


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30), st.data())
def test_event_walk_matches_recursive_reference(seed, n, data):
    k = data.draw(st.integers(1, n))
    parent, edges, rpw, delay, load, power = tree_instance(seed, n, k)
    bits, max_rate = 2.6e5, 1e9
    up_rpw, up_delay = forest_links(parent, edges, rpw, delay)
    cost = forest_round_cost(parent, up_rpw, up_delay, bits, max_rate, power, load)
    ref_latency, ref_energy = reference_cost(parent, edges, rpw, delay, load, power, bits, max_rate)
    assert cost.latency_s == pytest.approx(ref_latency, rel=1e-12)
    assert cost.energy_j == pytest.approx(ref_energy, rel=1e-12)


def test_late_resend_and_non_training_nodes_shift_the_clock():
    parent = np.array([-1, 0])
    edges = np.array([[0, 1]])
    load = ComputeLoad(np.full(2, 1e9), np.ones(2), np.ones(2), np.full(2, 1e9), np.full(2, 1e-28))
    up_rpw, up_delay = forest_links(parent, edges, np.array([1e9]), np.array([0.5]))
    base = forest_round_cost(parent, up_rpw, up_delay, 1e9, 1e12, np.ones(2), load)
    assert base.latency_s == pytest.approx(1 + 1.5 + 1.5)  # compute 1 s, up 1.5 s, down 1.5 s
    late = forest_round_cost(parent, up_rpw, up_delay, 1e9, 1e12, np.ones(2), load, earliest_send_s=np.array([0, 10.0]))
    assert late.latency_s == pytest.approx(10 + 1.5 + 1.5)
    idle = forest_round_cost(parent, up_rpw, up_delay, 1e9, 1e12, np.ones(2), load, trains=np.array([True, False]))
    assert idle.compute_energy_j[1] == 0 and idle.up_done_s[0] == pytest.approx(1.5)


def test_unknown_tree_link_is_named():
    with pytest.raises(ClockError, match=r"\(2, 0\)"):
        forest_links(np.array([-1, 0, 0]), np.array([[0, 1]]), np.ones(1), np.ones(1))
    assert edge_index(np.array([[0, 1], [1, 2]]), 3, np.array([2]), np.array([1]))[0] == 1


def test_mixing_follows_shortest_paths_between_roots():
    # Path graph 0-1-2-3-4 with unit hop time; roots 0 and 4 meet at a leader, 4 hops away.
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
    cost = mixing_cost(np.array([0, 4]), 5, edges, np.full(4, 1.0), np.zeros(4), 1.0, np.ones(5))
    g = nx.path_graph(5)
    assert cost.latency_s == pytest.approx(2 * nx.shortest_path_length(g, 0, 4))
    assert cost.reachable.all()
    assert cost.transmit_energy_j.sum() == pytest.approx(2 * 4)
    apart = mixing_cost(np.array([0, 4]), 5, edges[:2], np.ones(2), np.zeros(2), 1.0, np.ones(5))
    assert apart.reachable.sum() == 1 and apart.latency_s == 0


def test_ledger_round_trips_through_json():
    ledger = EnergyLedger(3)
    ledger.add(RoundRecord(0, 0.0, 2.5, 0.0, np.array([1.0, 2, 3]), np.array([0.5, 0, 0]), 0.1, 0.2))
    ledger.add(RoundRecord(1, 600.0, 1.5, 10.0, np.array([1.0, 1, 1]), np.array([0.0, 0, 1])))
    back = EnergyLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))
    np.testing.assert_array_equal(sum(r.compute_energy_j + r.transmit_energy_j for r in back.records), [2.5, 3, 5])
    assert back.total_energy_j == pytest.approx(10.5) and back.total_latency_s == pytest.approx(4.0)
    with pytest.raises(ClockError, match="expected \\(3,\\)"):
        ledger.add(RoundRecord(2, 0.0, 0.0, 0.0, np.zeros(2), np.zeros(2)))


@pytest.mark.parametrize("num_trees", [1, 3])
def test_clock_equals_optimizer_evaluate_on_a_real_snapshot(num_trees):
    from optimization.evaluate import evaluate
    from optimization.forests import distance_forest, random_forest

    from fedspan.scenario import Scenario, ScenarioConfig

    sc = Scenario(ScenarioConfig(constellation="small"), model_bits=2.6e5)
    snap = sc.snapshot(1800.0, window_s=60.0)
    n = sc.num_satellites
    rng = np.random.default_rng(num_trees)
    problem, nodes = sc.problem(snap, np.ones(n, bool), rng.integers(10, 50, n).astype(float), num_trees)
    assert (nodes == np.arange(n)).all()
    for parent in (distance_forest(problem, num_trees), random_forest(problem, num_trees, seed=3)):
        cpu, power = rng.uniform(2e8, 1.5e9, n), rng.uniform(0.05, 2.0, n)
        steps, batch = rng.integers(1, 10, n).astype(float), rng.integers(8, 64, n).astype(float)
        ref = evaluate(problem, parent, cpu, power, steps, batch)
        load = ComputeLoad(cpu, steps, batch, problem.resources.cycles_per_sample, problem.resources.capacitance)
        rpw, delay = forest_links(parent, snap.edges, snap.rate_per_watt, snap.delay_s)
        mine = forest_round_cost(parent, rpw, delay, sc.model_bits, sc.link_params.max_rate_bps, power, load)
        assert mine.latency_s == pytest.approx(ref.latency_s, rel=1e-9)
        assert mine.energy_j == pytest.approx(ref.energy_j, rel=1e-9)
        np.testing.assert_allclose(mine.energy_per_satellite_j, ref.node_energy_j, rtol=1e-9)
        np.testing.assert_allclose(mine.down_done_s, ref.down_time_s, rtol=1e-9)
