"""Fault injection: repaired forests stay forests, sums are neither lost nor double-counted."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from fedspan.aggregation import forest_levels, tree_sums
from fedspan.clock import ComputeLoad, forest_round_cost
from fedspan.faults import (FaultError, FaultEvent, fault_outcome, parse_fault_schedule, random_faults, repair_forest,
                            repair_forests, tree_failures)
from fl_links import forest_links


def grid_round(seed: int, side: int = 6):
    """A side x side grid graph (4 terminals suffice), its BFS tree from node 0 and planned clock."""
    g = nx.grid_2d_graph(side, side)
    idx = {v: i for i, v in enumerate(sorted(g.nodes))}
    edges = np.sort(np.array([(idx[a], idx[b]) for a, b in g.edges]), axis=1)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    n = side * side
    parent = np.full(n, -1)
    for child, par in nx.bfs_predecessors(nx.relabel_nodes(g, idx), 0):
        parent[child] = par
    rng = np.random.default_rng(seed)
    rpw = rng.uniform(1e8, 1e9, len(edges))
    delay = np.full(len(edges), 0.01)
    load = ComputeLoad(np.full(n, 1e9), np.ones(n), np.full(n, 32.0), np.full(n, 1e7), np.full(n, 1e-28))
    up_rpw, up_delay = forest_links(parent, edges, rpw, delay)
    power = np.full(n, 1.0)
    bits = 1e6
    cost = forest_round_cost(parent, up_rpw, up_delay, bits, 1e10, power, load)
    uplink_t = np.where(parent >= 0, bits / np.nan_to_num(up_rpw, nan=1.0) + np.nan_to_num(up_delay), 0.0)
    uplink_e = np.where(parent >= 0, bits / np.nan_to_num(up_rpw, nan=1.0), 0.0)
    dist = rng.uniform(500, 4000, len(edges))
    return dict(parent=parent, edges=edges, dist=dist, cost=cost, uplink_t=uplink_t, uplink_e=uplink_e, n=n,
                rpw=rpw, delay=delay, load=load, power=power, bits=bits)


def resolve(r, events):
    """A round's faults on its planned forest and clock, repaired the default way (the steps a run takes)."""
    n = r["n"]
    parent, participating = r["parent"], np.ones(n, bool)
    failures = tree_failures(events, parent, participating, r["cost"].up_done_s, r["uplink_t"], r["uplink_e"])
    up, down, ids = repair_forests(parent, np.zeros(n, int), failures, r["edges"], r["dist"], np.full(n, 4))
    return fault_outcome(parent, failures, up, down, ids, failures.contributing)


def assert_valid_forest_over(parent, edges, members):
    levels = forest_levels(parent)  # raises on cycles
    child = np.flatnonzero(parent >= 0)
    keys = set(map(tuple, edges.tolist()))
    for c in child:
        assert (min(c, parent[c]), max(c, parent[c])) in keys
    assert (np.bincount(parent[child], minlength=len(parent)) + (parent >= 0) <= 4).all()
    assert members[child].all() and members[parent[child]].all()
    return levels


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.lists(st.integers(1, 35), min_size=1, max_size=4, unique=True),
       st.floats(0.0, 0.99))
def test_aggregate_equals_fedavg_over_surviving_satellites(seed, victims, frac):
    r = grid_round(seed)
    n = r["n"]
    out = resolve(r, [FaultEvent(0, "satellite", v, None, frac) for v in victims])
    assert_valid_forest_over(out.up_parent, r["edges"], ~(out.dead & ~out.contributing))
    rng = np.random.default_rng(seed)
    params = torch.as_tensor(rng.normal(size=(n, 7)))
    w = rng.uniform(1, 100, n)
    sums, wsum, _ = tree_sums(params, w, out.up_parent, out.tree_of, 1, out.contributing)
    keep = out.contributing
    ref = (params[keep] * torch.as_tensor(w[keep])[:, None]).sum(0) / w[keep].sum()
    torch.testing.assert_close(sums[0] / wsum[0], ref, rtol=1e-12, atol=1e-12)
    # At fraction 0 nobody has forwarded yet: exactly the survivors contribute.
    if frac == 0.0:
        assert set(np.flatnonzero(~keep)) == set(victims)
    # The dispatch forest spans every survivor without passing through the dead.
    alive = ~out.dead
    levels = assert_valid_forest_over(out.down_parent, r["edges"], alive | (out.down_parent >= 0))
    assert not (out.dead & (np.bincount(out.down_parent[out.down_parent >= 0], minlength=n) > 0)).any()
    g = nx.Graph(r["edges"].tolist())
    g.remove_nodes_from(np.flatnonzero(out.dead).tolist())
    assert len(np.unique(levels.root_of[alive])) == nx.number_connected_components(g)


def test_lost_root_promotes_a_new_root_and_keeps_everyone_else():
    r = grid_round(1)
    out = resolve(r, [FaultEvent(0, "root", None, None, 0.3)])
    assert out.dead[0] and not out.contributing[0]
    roots = np.flatnonzero(out.up_parent < 0)
    assert 0 in roots and len(roots) == 2  # the lost root sits alone; one promoted root spans the rest
    assert any("promoted" in note for note in out.notes)
    levels = forest_levels(out.up_parent)
    assert len(np.unique(levels.root_of[1:])) == 1


def test_link_drop_reparents_and_costs_extra_time():
    r = grid_round(2)
    parent = r["parent"]
    child = int(np.flatnonzero(parent >= 0)[5])
    out = resolve(r, [FaultEvent(0, "link", None, (child, int(parent[child])), 0.0)])
    assert out.contributing.all()
    assert out.up_parent[child] != parent[child] or forest_levels(out.up_parent).depth[child] == 0
    rpw, delay = forest_links(out.up_parent, r["edges"], r["rpw"], r["delay"])
    late = forest_round_cost(out.up_parent, rpw, delay, r["bits"], 1e10, r["power"], r["load"],
                             earliest_send_s=out.earliest_send_s)
    assert late.latency_s > r["cost"].latency_s


def test_forwarded_satellite_counts_but_is_routed_around_for_dispatch():
    r = grid_round(3)
    parent, done = r["parent"], r["cost"].up_done_s
    levels = forest_levels(parent)
    # A relay two hops below the root, with children: it forwards long before the root is done.
    node = int(next(v for v in levels.levels[2] if (parent == v).any()))
    frac = (done[node] + r["uplink_t"][node]) / done[0] + 1e-6
    out = resolve(r, [FaultEvent(0, "satellite", node, None, frac)])
    assert out.dead[node] and out.contributing[node]
    assert (out.up_parent == parent).all()  # its whole subtree's sum was already upstream
    assert not (out.down_parent == node).any()  # but nobody waits for the model through it


def test_repair_promotes_when_no_link_is_left():
    # Path 0-1-2; node 1 leaves, no other link: node 2 must become a root.
    rep = repair_forest(np.array([-1, 0, 1]), np.array([False, True, False]), np.zeros(3, bool),
                        np.array([[0, 1], [1, 2]]), np.ones(2), np.full(3, 4), np.ones(3, bool))
    assert list(rep.parent) == [-1, -1, -1] and rep.promoted == [2]


def test_schedule_validation_names_the_entry():
    good = parse_fault_schedule([{"round": 2, "kind": "satellite", "satellite": 3, "at_fraction": 0.25},
                                 {"round": 1, "kind": "link", "edge": [4, 5]}, {"round": 0, "kind": "root"}], 10, 5)
    assert good[0] == FaultEvent(2, "satellite", 3, None, 0.25) and good[1].edge == (4, 5)
    assert parse_fault_schedule([e.to_dict() for e in good], 10, 5) == good
    for bad, msg in [({"round": 0, "kind": "meteor", "satellite": 1}, r"faults\[0\]: kind"),
                     ({"round": 9, "kind": "satellite", "satellite": 1}, "round = 9"),
                     ({"round": 0, "kind": "satellite", "satellite": 99}, "satellite 99"),
                     ({"round": 0, "kind": "satellite"}, "needs satellite"),
                     ({"round": 0, "kind": "link", "edge": 3}, "edge"),
                     ({"round": 0, "kind": "satellite", "satellite": 1, "at_fraction": 1.5}, "at_fraction"),
                     ({"round": 0, "kind": "satellite", "satellite": 1, "color": 2}, "unknown field"),
                     ("boom", "expected a table")]:
        with pytest.raises(FaultError, match=msg):
            parse_fault_schedule([bad], 10, 5)


def test_random_faults_follow_the_rate():
    parent = np.r_[-1, np.zeros(999, int)]
    events = random_faults(np.random.default_rng(0), 3, parent, np.ones(1000, bool), 0.05)
    kinds = [e.kind for e in events]
    assert 30 < kinds.count("satellite") < 75 and 30 < kinds.count("link") < 75
    assert all(e.round == 3 and 0 <= e.at_fraction < 1 for e in events)
    assert random_faults(np.random.default_rng(0), 0, parent, np.ones(1000, bool), 0.0) == []


def test_empty_batteries_stop_satellites_before_they_overspend():
    from fedspan.simulation import SimulationConfig, run_simulation

    budget = 0.55  # three rounds of this default load fit, the fourth does not
    res = run_simulation(SimulationConfig(strategy="mst", rounds=4, energy_budget_j=budget))
    assert (sum(r.compute_energy_j + r.transmit_energy_j for r in res.ledger.records) <= budget).all()
    last, before = res.metrics[-1], res.metrics[-2]
    assert before.participating == 66 and last.participating == 0 and last.energy_j == 0.0
    assert "energy fault" in last.faults
    assert last.test_accuracy == before.test_accuracy  # nobody trained: the model is kept as it was
