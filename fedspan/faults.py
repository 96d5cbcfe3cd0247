"""Fault injection and forest repair: dead satellites, dropped links, lost roots, empty batteries.

A fault strikes at ``at_fraction`` of its tree's planned aggregation time. What had already been
forwarded is safe (every satellite keeps its outgoing partial sum until the dispatch reaches
it); what had not is re-sent by the orphaned subtrees over a repaired forest, or lost with the
satellite that held it. See docs/failure-model.md for the guarantees.

A round with faults runs in three steps: ``assess_failures`` (what broke, a physical fact of the
round), ``AggregationStrategy.repair`` (a policy: how the forest is mended; the default is
``default_repair``) and ``faulted_cost`` (the round re-timed on the repaired forests).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

import numpy as np

from fedspan.aggregation import forest_levels
from fedspan.clock import RoundCost, forest_round_cost
from fedspan.errors import FedSpanError
from fedspan.repair import Repair, RoundFailures, repair_forest, repair_forests  # noqa: F401  (re-exported)
from fedspan.strategies.base import (AggregationStrategy, RoundContext, RoundPlan, StrategyError, compute_load,
                                     merge_roots_cost, plan_links, relay_bits, uplink_acquisition_s)
from optimization.costs import terminal_overhead_w, transfer_costs

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
            if satellite is not None and satellite < 0:  # -1 would wrap to the last tree in Python indexing
                raise FaultError(f"{where}: a root fault's satellite = {satellite} must be a tree index >= 0 "
                                 f"(0: the largest tree)")
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


def tree_failures(events: list[FaultEvent], parent: np.ndarray, participating: np.ndarray, up_done_s: np.ndarray,
                  uplink_time_s: np.ndarray, uplink_energy_j: np.ndarray, send_s: np.ndarray | None = None,
                  delivered_s: np.ndarray | None = None) -> RoundFailures:
    """What a round's faults break in a forest, given its planned clock.

    ``up_done_s[n]`` is when n's partial sum is complete and ``uplink_time_s[n]`` how long its
    uplink takes (s), so a fault at time t knows which messages were delivered. ``send_s`` and ``delivered_s``
    (the clock's :class:`~optimization.costs.ForestTimeline`), when given, say when each message starts and has
    fully arrived: a relay that forwards packets starts before its sum is complete and finishes sooner than a whole
    model's air time after it (default: ``up_done_s`` and ``up_done_s + uplink_time_s``, store and forward).
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    levels = forest_levels(parent)
    root_done = up_done_s[levels.root_of]
    roots = np.flatnonzero((parent < 0) & participating)
    if delivered_s is None:
        delivered_at = np.where(parent >= 0, up_done_s + uplink_time_s, np.inf)
    else:
        delivered_at = np.where(parent >= 0, delivered_s, np.inf)
    send_at = up_done_s if send_s is None else send_s
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
    wasted += np.where(cut_up & (send_at <= fault_time), uplink_energy_j, 0.0)  # in flight when cut
    return RoundFailures(dead=dead, lost=lost, cut_up=cut_up, cut_down=cut_down, contributing=participating & ~lost,
                         trains=participating & (death_time > 0), fault_time_s=fault_time, wasted_tx_j=wasted,
                         notes=notes)


def dropped_failures(events: list[FaultEvent], participating: np.ndarray) -> RoundFailures:
    """Faults without a forest clock: a satellite that fails takes no part at all (no partial forwarding)."""
    dead = np.zeros(len(participating), bool)
    for ev in events:
        if ev.satellite is not None and ev.kind != "root":
            dead[ev.satellite] = True
    alive, none = participating & ~dead, np.zeros(len(dead), bool)
    return RoundFailures(dead=dead, lost=participating & dead, cut_up=none, cut_down=none.copy(), contributing=alive,
                         trains=alive.copy(), fault_time_s=np.zeros(len(dead)), wasted_tx_j=np.zeros(len(dead)),
                         notes=[f"satellite {s} lost" for s in np.flatnonzero(dead)])


def fault_outcome(parent: np.ndarray, failures: RoundFailures, up_parent: np.ndarray, down_parent: np.ndarray,
                  tree_of: np.ndarray, contributing: np.ndarray,
                  detection_s: float = DEFAULT_DETECTION_S) -> FaultOutcome:
    """A round's failures with its repaired forests: re-sends wait ``detection_s`` (s) after the last fault."""
    parent = np.asarray(parent)
    reparented = (up_parent != parent) & (up_parent >= 0)
    earliest = np.where(reparented, failures.fault_time_s.max(initial=0.0) + detection_s, 0.0)
    promoted = [*np.flatnonzero((up_parent < 0) & (parent >= 0) & ~failures.lost),
                *np.flatnonzero((down_parent < 0) & (up_parent >= 0) & ~failures.dead)]
    return FaultOutcome(up_parent=up_parent, down_parent=down_parent, tree_of=tree_of, contributing=contributing,
                        trains=failures.trains, earliest_send_s=earliest, wasted_tx_j=failures.wasted_tx_j,
                        dead=failures.dead, notes=failures.notes + [f"satellite {r} promoted to root" for r in promoted])


def assess_failures(ctx: RoundContext, strategy: AggregationStrategy, plan: RoundPlan, planned: RoundCost,
                    events: list[FaultEvent]) -> RoundFailures:
    """What a round's faults break: timed on the planned forest clock, or dropped without one."""
    if not strategy.tree_clock:
        return dropped_failures(events, plan.participating)
    sc = ctx.scenario
    rpw, delay = plan_links(ctx, plan.parent)
    has = plan.parent >= 0
    kids = np.flatnonzero(has)
    uplink_t, uplink_e = np.zeros(len(has)), np.zeros(len(has))
    bits = relay_bits(ctx, plan.parent, plan.participating)[kids] if strategy.relays_client_updates else sc.model_bits
    uplink_t[kids], uplink_e[kids] = transfer_costs(bits, np.nan_to_num(rpw)[kids], plan.tx_power_w[kids],
                                                    sc.link_params.max_rate_bps, np.nan_to_num(delay)[kids],
                                                    terminal_overhead_w(sc.link_params.terminal_power_w))
    return tree_failures(events, plan.parent, plan.participating, planned.up_done_s, uplink_t, uplink_e,
                         planned.send_s, planned.delivered_s)


def default_repair(ctx: RoundContext, strategy: AggregationStrategy, plan: RoundPlan,
                   failures: RoundFailures) -> RoundPlan:
    """``AggregationStrategy.repair``'s default (its home is that method): forest repair with a forest
    clock, else drop the failed. For a policy that mends some rounds itself and defers in others."""
    return AggregationStrategy.repair(strategy, ctx, plan, failures)


def check_repair(ctx: RoundContext, strategy: AggregationStrategy, failures: RoundFailures,
                 repaired: RoundPlan) -> np.ndarray:
    """The repaired plan's dispatch forest, after checking the plan fits the round (StrategyError if not)."""
    where = f"strategy '{strategy.name}' repaired round {ctx.round_index}"
    n = len(failures.dead)
    down = repaired.parent if repaired.down_parent is None else np.asarray(repaired.down_parent)
    for key, value in (("parent", repaired.parent), ("down_parent", down), ("tree_of", repaired.tree_of),
                       ("participating", repaired.participating)):
        if np.shape(value) != (n,):
            raise StrategyError(f"{where}: {key} has shape {np.shape(value)}, expected ({n},)")
    for forest, gone, way in ((repaired.parent, failures.lost, "up"), (down, failures.dead, "down")):
        forest_levels(forest)  # a ForestError names a cycle or a bad index
        bad = np.flatnonzero((forest >= 0) & (gone | gone[np.maximum(forest, 0)])) if strategy.tree_clock else []
        if len(bad):
            raise StrategyError(f"{where}: link {int(bad[0])}->{int(forest[bad[0]])} {way} uses a failed satellite")
    extra = np.flatnonzero(repaired.participating & ~failures.contributing)
    if len(extra):
        raise StrategyError(f"{where}: satellite {int(extra[0])} cannot contribute (lost or not in the round)")
    ids = np.asarray(repaired.tree_of)[repaired.participating]
    if len(ids) and (ids.min() < 0 or ids.max() >= strategy.num_models(ctx.scenario)):
        raise StrategyError(f"{where}: model ids outside [0, {strategy.num_models(ctx.scenario)})")
    return down


def round_faults(ctx: RoundContext, strategy: AggregationStrategy, plan: RoundPlan, planned: RoundCost,
                 events: list[FaultEvent]) -> FaultOutcome:
    """Resolve a round's faults against its plan and planned clock; the strategy repairs (``repair``)."""
    failures = assess_failures(ctx, strategy, plan, planned, events)
    repaired = strategy.repair(ctx, plan, failures)
    down = check_repair(ctx, strategy, failures, repaired)
    return fault_outcome(plan.parent, failures, np.asarray(repaired.parent), down, np.asarray(repaired.tree_of),
                         np.asarray(repaired.participating, bool))


def faulted_cost(ctx: RoundContext, strategy: AggregationStrategy, plan: RoundPlan,
                 outcome: FaultOutcome) -> RoundCost:
    """The round re-timed on the repaired forests, with lost messages charged as wasted energy."""
    repaired = replace(plan, parent=outcome.up_parent, tree_of=outcome.tree_of, participating=outcome.contributing)
    if not strategy.tree_clock:
        return strategy.round_cost(ctx, replace(repaired, participating=outcome.trains))
    sc = ctx.scenario
    up_rpw, up_delay = plan_links(ctx, outcome.up_parent)
    down_rpw, down_delay = plan_links(ctx, outcome.down_parent)
    up_bits = relay_bits(ctx, outcome.up_parent, outcome.contributing) if strategy.relays_client_updates else None
    cost = forest_round_cost(outcome.up_parent, up_rpw, up_delay, sc.model_bits, sc.link_params.max_rate_bps,
                             plan.tx_power_w, compute_load(ctx, plan), trains=outcome.trains,
                             earliest_send_s=outcome.earliest_send_s, down_parent=outcome.down_parent,
                             down_rate_per_watt=down_rpw, down_delay_s=down_delay, up_bits=up_bits,
                             terminal_power_w=sc.link_params.terminal_power_w,
                             acquisition_s=uplink_acquisition_s(ctx, outcome.up_parent),
                             packet_bits=sc.link_params.packet_bits)
    cost.transmit_energy_j = cost.transmit_energy_j + outcome.wasted_tx_j
    return merge_roots_cost(ctx, repaired, cost, up_bits)
