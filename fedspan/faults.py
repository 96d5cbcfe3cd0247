"""Fault injection and forest repair: dead satellites, dropped links, lost roots, empty batteries.

A fault strikes at ``at_fraction`` of its tree's planned aggregation time. What had already been
forwarded is safe (every satellite keeps its outgoing partial sum until the dispatch reaches
it); what had not is re-sent by the orphaned subtrees over a repaired forest, or lost with the
satellite that held it. See docs/failure-model.md for the guarantees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from fedspan.aggregation import forest_levels
from fedspan.clock import RoundCost, forest_round_cost
from fedspan.errors import FedSpanError
from fedspan.strategies.base import (AggregationStrategy, RoundContext, RoundPlan, compute_load, merge_roots_cost,
                                     plan_links)
from optimization.costs import transfer_costs
from optimization.forests import tree_degrees

FAULT_KINDS = ("satellite", "link", "root", "energy")
#: Seconds a child needs to notice its parent or link is gone before re-sending.
DEFAULT_DETECTION_S = 1.0


class FaultError(FedSpanError):
    """A fault schedule entry that names an unknown kind, satellite, link or round."""


@dataclass(frozen=True)
class FaultEvent:
    """One scheduled fault: in ``round``, ``kind`` hits ``satellite`` (or link ``edge``)."""

    round: int
    kind: str
    satellite: int | None = None  # satellite/energy: the satellite; root: the tree index (None: largest)
    edge: tuple[int, int] | None = None  # link: (child, parent) of a tree link
    at_fraction: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-safe form, accepted back by :func:`parse_fault_schedule`."""
        out: dict[str, Any] = {"round": self.round, "kind": self.kind, "at_fraction": self.at_fraction}
        if self.satellite is not None:
            out["satellite"] = self.satellite
        if self.edge is not None:
            out["edge"] = list(self.edge)
        return out


def parse_fault_schedule(items: Iterable[Mapping[str, Any] | FaultEvent], num_satellites: int | None = None,
                         rounds: int | None = None) -> list[FaultEvent]:
    """Validate a schedule (list of ``{round, kind, satellite | edge, at_fraction}``)."""
    events = []
    for i, item in enumerate(items):
        if isinstance(item, FaultEvent):
            item = item.to_dict()
        where = f"faults[{i}]"
        if not isinstance(item, Mapping):
            raise FaultError(f"{where}: expected a table like {{round = 3, kind = 'satellite', satellite = 5}}, "
                             f"got {item!r}")
        unknown = set(item) - {"round", "kind", "satellite", "edge", "at_fraction"}
        if unknown:
            raise FaultError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        kind = item.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultError(f"{where}: kind = {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        rnd = _integer(where, "round", item.get("round"))
        if rnd < 0 or (rounds is not None and rnd >= rounds):
            raise FaultError(f"{where}: round = {rnd} is outside the run's rounds 0..{(rounds or 1) - 1}")
        frac = item.get("at_fraction", 0.5)
        if not isinstance(frac, (int, float)) or not 0.0 <= float(frac) < 1.0:
            raise FaultError(f"{where}: at_fraction = {frac!r} must be a number in [0, 1)")
        satellite, edge = item.get("satellite"), item.get("edge")
        if kind == "link":
            if not isinstance(edge, (list, tuple)) or len(edge) != 2:
                raise FaultError(f"{where}: a link fault needs edge = [child, parent], got {edge!r}")
            edge = (_satellite(where, edge[0], num_satellites), _satellite(where, edge[1], num_satellites))
            satellite = None
        elif kind == "root":
            satellite = None if satellite is None else _integer(where, "satellite", satellite)
        else:
            if satellite is None:
                raise FaultError(f"{where}: a {kind} fault needs satellite = <index>")
            satellite = _satellite(where, satellite, num_satellites)
        events.append(FaultEvent(rnd, kind, satellite, edge, float(frac)))
    return events


def _integer(where: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise FaultError(f"{where}: {name} = {value!r} must be an integer")
    return int(value)


def _satellite(where: str, value: Any, num_satellites: int | None) -> int:
    index = _integer(where, "satellite", value)
    if index < 0 or (num_satellites is not None and index >= num_satellites):
        raise FaultError(f"{where}: satellite {index} does not exist (0..{(num_satellites or 1) - 1})")
    return index


def random_faults(rng: np.random.Generator, round_index: int, parent: np.ndarray, participating: np.ndarray,
                  rate: float) -> list[FaultEvent]:
    """Each participating satellite dies, and each tree link drops, with probability ``rate``."""
    sats = np.flatnonzero(participating)
    dead = sats[rng.random(len(sats)) < rate]
    child = np.flatnonzero((parent >= 0) & participating)
    dropped = child[rng.random(len(child)) < rate]
    return ([FaultEvent(round_index, "satellite", int(s), None, float(rng.random())) for s in dead]
            + [FaultEvent(round_index, "link", None, (int(c), int(parent[c])), float(rng.random())) for c in dropped])


def _reroot(parent: np.ndarray, node: int) -> None:
    """Make ``node`` the top of its tree by reversing the path to the current top (in place)."""
    prev, cur = -1, node
    while cur >= 0:
        nxt = parent[cur]
        parent[cur] = prev
        prev, cur = cur, nxt


@dataclass
class Repair:
    """A repaired forest and what the repair did."""

    parent: np.ndarray
    reparented: np.ndarray  # (N,) bool: nodes whose uplink changed
    promoted: list[int] = field(default_factory=list)  # new roots


def repair_forest(parent: np.ndarray, leaving: np.ndarray, cut: np.ndarray, edges: np.ndarray,
                  distance_km: np.ndarray, terminals: np.ndarray, usable: np.ndarray) -> Repair:
    """Remove ``leaving`` nodes and the uplinks of ``cut`` nodes, then re-attach every orphaned
    subtree over the shortest feasible candidate link to an anchored tree (respecting terminals);
    when none is left, promote the top of the largest orphaned subtree to a root and continue.
    """
    n = len(parent)
    new = np.asarray(parent, dtype=np.int64).copy()
    leaving = np.asarray(leaving, bool)
    orphan_top = (np.asarray(cut, bool) | ((new >= 0) & leaving[np.maximum(new, 0)])) & ~leaving
    new[leaving | orphan_top] = -1
    # A leaving node keeps nobody: its children are orphans now.
    anchored_root = (new < 0) & ~leaving & ~orphan_top
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    ok_edge = usable[edges[:, 0]] & usable[edges[:, 1]] & ~leaving[edges[:, 0]] & ~leaving[edges[:, 1]]
    edges, distance_km = edges[ok_edge], np.asarray(distance_km, float)[ok_edge]
    promoted: list[int] = []
    # Each pass attaches or promotes one orphaned subtree: at most (number of orphans) passes.
    while True:
        root_of = forest_levels(new).root_of
        anchored = anchored_root[root_of] & ~leaving
        orphaned = ~anchored & ~leaving
        if not orphaned.any():
            break
        deg = tree_degrees(new)
        free = deg < np.asarray(terminals)
        a, b = edges[:, 0], edges[:, 1]
        fwd = orphaned[a] & anchored[b] & free[a] & free[b]
        bwd = orphaned[b] & anchored[a] & free[a] & free[b]
        if fwd.any() or bwd.any():
            cand = np.flatnonzero(fwd | bwd)
            best = cand[np.argmin(distance_km[cand])]
            u, v = (a[best], b[best]) if fwd[best] else (b[best], a[best])
            _reroot(new, int(u))
            new[u] = v
            continue
        sizes = np.bincount(root_of[orphaned], minlength=n)
        top = int(np.argmax(sizes))
        anchored_root[top] = True
        promoted.append(top)
    return Repair(parent=new, reparented=(new != np.asarray(parent)) & (new >= 0), promoted=promoted)


@dataclass
class FaultOutcome:
    """How a round's forest looks after its faults, for the reduce (up) and the dispatch (down)."""

    up_parent: np.ndarray
    down_parent: np.ndarray
    tree_of: np.ndarray
    contributing: np.ndarray  # (N,) bool: whose model reaches a root
    trains: np.ndarray  # (N,) bool: who spent compute energy
    earliest_send_s: np.ndarray  # (N,) re-sends wait for fault detection
    wasted_tx_j: np.ndarray  # (N,) energy of messages that were lost
    dead: np.ndarray  # (N,) bool: satellites gone for good (died or battery empty)
    notes: list[str]


def resolve_faults(events: list[FaultEvent], parent: np.ndarray, tree_of: np.ndarray, participating: np.ndarray,
                   up_done_s: np.ndarray, uplink_time_s: np.ndarray, uplink_energy_j: np.ndarray,
                   edges: np.ndarray, distance_km: np.ndarray, terminals: np.ndarray,
                   detection_s: float = DEFAULT_DETECTION_S) -> FaultOutcome:
    """Apply a round's faults to its planned forest and timings; return the repaired round.

    ``up_done_s[n]`` is when n's partial sum is complete and ``uplink_time_s[n]`` how long its
    uplink takes (the planned clock), so a fault at time t knows which messages were delivered.
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    levels = forest_levels(parent)
    root_done = up_done_s[levels.root_of]
    roots = np.flatnonzero((parent < 0) & participating)
    delivered_at = np.where(parent >= 0, up_done_s + uplink_time_s, np.inf)
    dead = np.zeros(n, bool)
    death_time = np.full(n, np.inf)
    lost = np.zeros(n, bool)  # died before forwarding: own contribution gone, children re-send
    fault_time = np.zeros(n)
    cut_up, cut_down = np.zeros(n, bool), np.zeros(n, bool)
    notes = []
    for ev in events:
        if ev.kind == "link":
            c, p = ev.edge
            if parent[c] != p:
                # A schedule is written before the forests exist: a link outside this round's forest is idle.
                notes.append(f"link {c}->{p} is not a tree link this round: nothing to drop")
                continue
            t = ev.at_fraction * root_done[c]
            (cut_down if delivered_at[c] <= t else cut_up)[c] = True
            fault_time[c] = max(fault_time[c], t)
            notes.append(f"link {c}->{p} dropped at {t:.3f} s")
            continue
        if ev.kind == "root":
            order = roots[np.argsort(-np.bincount(levels.root_of, minlength=n)[roots], kind="stable")]
            k = 0 if ev.satellite is None else ev.satellite
            if k >= len(order):
                raise FaultError(f"round {ev.round}: root fault names tree {k} but the forest has {len(order)} trees")
            s = int(order[k])
        else:
            s = int(ev.satellite)
        if not participating[s]:
            dead[s] = True
            continue
        t = ev.at_fraction * root_done[s]
        dead[s] = True
        death_time[s] = min(death_time[s], t)
        if delivered_at[s] > t:
            lost[s] = True
            fault_time[parent == s] = np.maximum(fault_time[parent == s], t)
        notes.append(f"{ev.kind} fault: satellite {s} at {t:.3f} s"
                     + (" after forwarding its partial sum" if not lost[s] else ""))
    # Children that had already delivered to a satellite that then died unforwarded: message wasted.
    children_of_lost = (parent >= 0) & lost[np.maximum(parent, 0)]
    wasted = np.where(children_of_lost & (delivered_at <= fault_time), uplink_energy_j, 0.0)
    wasted += np.where(cut_up & (up_done_s <= fault_time), uplink_energy_j, 0.0)  # in flight when cut
    usable = participating & ~dead
    up = repair_forest(parent, lost, cut_up, edges, distance_km, terminals, usable)
    down = repair_forest(up.parent, dead, cut_down, edges, distance_km, terminals, usable)
    contributing = participating & ~lost
    earliest = np.where(up.reparented, fault_time.max(initial=0.0) + detection_s, 0.0)
    new_root_of = forest_levels(up.parent).root_of
    new_tree_of = np.asarray(tree_of)[new_root_of]
    for r in up.promoted + down.promoted:
        notes.append(f"satellite {r} promoted to root")
    return FaultOutcome(up_parent=up.parent, down_parent=down.parent, tree_of=new_tree_of,
                        contributing=contributing, trains=participating & (death_time > 0),
                        earliest_send_s=earliest, wasted_tx_j=wasted, dead=dead, notes=notes)



def round_faults(ctx: RoundContext, strategy: AggregationStrategy, plan: RoundPlan, planned: RoundCost,
                 events: list[FaultEvent]) -> FaultOutcome:
    """Resolve a round's faults against its plan and planned clock (repairing forest plans)."""
    snap, sc = ctx.snapshot, ctx.scenario
    if not strategy.tree_clock:
        # No forest to repair: the satellites that fail simply do not contribute.
        dead = np.zeros(len(plan.parent), bool)
        for ev in events:
            if ev.satellite is not None and ev.kind != "root":
                dead[ev.satellite] = True
        zeros = np.zeros(len(dead))
        return FaultOutcome(plan.parent, plan.parent, plan.tree_of, plan.participating & ~dead,
                            plan.participating & ~dead, zeros, zeros, dead,
                            [f"satellite {s} lost" for s in np.flatnonzero(dead)])
    rpw, delay = plan_links(ctx, plan.parent)
    has = plan.parent >= 0
    kids = np.flatnonzero(has)
    uplink_t, uplink_e = np.zeros(len(has)), np.zeros(len(has))
    uplink_t[kids], uplink_e[kids] = transfer_costs(sc.model_bits, np.nan_to_num(rpw)[kids], plan.tx_power_w[kids],
                                                    sc.link_params.max_rate_bps, np.nan_to_num(delay)[kids])
    return resolve_faults(events, plan.parent, plan.tree_of, plan.participating, planned.up_done_s, uplink_t,
                          uplink_e, snap.edges, snap.distance_km, np.asarray(sc.resources.terminals))


def faulted_cost(ctx: RoundContext, strategy: AggregationStrategy, plan: RoundPlan,
                 outcome: FaultOutcome) -> RoundCost:
    """The round re-timed on the repaired forests, with lost messages charged as wasted energy."""
    if not strategy.tree_clock:
        return strategy.round_cost(ctx, RoundPlan(**{**plan.__dict__, "participating": outcome.trains}))
    sc = ctx.scenario
    up_rpw, up_delay = plan_links(ctx, outcome.up_parent)
    down_rpw, down_delay = plan_links(ctx, outcome.down_parent)
    cost = forest_round_cost(outcome.up_parent, up_rpw, up_delay, sc.model_bits, sc.link_params.max_rate_bps,
                             plan.tx_power_w, compute_load(ctx, plan), trains=outcome.trains,
                             earliest_send_s=outcome.earliest_send_s, down_parent=outcome.down_parent,
                             down_rate_per_watt=down_rpw, down_delay_s=down_delay)
    cost.transmit_energy_j = cost.transmit_energy_j + outcome.wasted_tx_j
    repaired = RoundPlan(**{**plan.__dict__, "parent": outcome.up_parent, "tree_of": outcome.tree_of,
                            "participating": outcome.contributing})
    return merge_roots_cost(ctx, repaired, cost)
