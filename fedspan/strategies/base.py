"""The aggregation-policy interface shared by Fed-Span and every baseline.

In the spirit of Flower's ``Strategy``: a policy decides, each round, *who talks to whom with
what resources* (``plan_round``), *what that costs on the simulated clock* (``round_cost``),
*how the forest is mended when satellites or links fail mid-round* (``repair``) and *how the
reduced models become the next models* (``aggregate``). Training, the reduce along ``parent``
and the ledger are shared, so every policy runs on the same clock, energy model and data.
docs/strategies.md walks through the interface and maps it to Flower's methods.

A policy keeps ``num_models`` models between rounds (1 for FedAvg-like policies, K clusters for
an MSF, one per plane for plane rings, one per satellite for gossip). ``RoundPlan.tree_of`` says
which of them each satellite trains from and contributes to; ``parent`` is the forest the sums
travel along (several roots may share a model id: their sums are merged by a root-to-root
exchange that the default cost charges).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from fedspan.aggregation import cluster_models, forest_levels, mix_clusters
from fedspan.backend import RoundUpdate
from fedspan.clock import ComputeLoad, MixingCost, RoundCost, forest_round_cost, mixing_cost
from fedspan.errors import FedSpanError
from fedspan.repair import RoundFailures, repair_forests
from optimization.forests import find_edges
from orbits.links import link_rate_per_watt, propagation_delay_s


class StrategyError(FedSpanError):
    """An unknown strategy name, bad strategy options, or a plan that does not fit the round."""


@dataclass
class RoundContext:
    """Everything a policy may look at when planning round ``round_index``."""

    round_index: int
    time_s: float
    snapshot: Any  # orbits.isl.Snapshot of this round (candidate links at this time)
    scenario: Any  # fedspan.scenario.Scenario (problem builder, ground stations, planes)
    available: np.ndarray  # (N,) bool: alive, active in the snapshot and with energy left
    sample_weight: np.ndarray  # (N,) float: |D_n| now
    holder: np.ndarray  # (N,) int: id of the model each satellite holds from the last round
    local_steps: int  # default e_n for policies that do not optimise it
    batch_size: int  # default B_n
    mix_every: int
    rng: np.random.Generator  # seeded by (seed, round): plans are reproducible
    #: (N,) J the planner may spend per satellite this round (the battery left paced over the rounds left); None: no limit
    energy_budget_j: np.ndarray | None = None
    #: s until the next tick when rounds run on a cadence (latency up to it is free); None: back to back
    deadline_s: float | None = None
    #: (L, 2) satellite pairs whose links were up at the end of the last round: they need no acquisition
    links_up: np.ndarray | None = None

    @classmethod
    def for_round(cls, scenario: Any, round_index: int, time_s: float, snapshot: Any, available: np.ndarray,
                  sample_weight: np.ndarray, holder: np.ndarray, local_steps: int, batch_size: int, mix_every: int,
                  seed: int, *, energy_budget_j: np.ndarray | None = None, deadline_s: float | None = None,
                  links_up: np.ndarray | None = None) -> RoundContext:
        """The context of round ``round_index`` of a run or a ``plan`` horizon, its ``rng`` seeded by
        ``(seed, round_index, 2)``: the one place the seed rule lives, so a plan and a run of the same
        seed see the same random draws."""
        return cls(round_index=round_index, time_s=time_s, snapshot=snapshot, scenario=scenario, available=available,
                   sample_weight=sample_weight, holder=holder, local_steps=local_steps, batch_size=batch_size,
                   mix_every=mix_every, rng=np.random.default_rng([seed, round_index, 2]),
                   energy_budget_j=energy_budget_j, deadline_s=deadline_s, links_up=links_up)


@dataclass
class RoundPlan:
    """One round's communication pattern and per-satellite resources (arrays of length N)."""

    parent: np.ndarray
    tree_of: np.ndarray
    participating: np.ndarray  # bool: trains and contributes
    cpu_hz: np.ndarray
    tx_power_w: np.ndarray
    local_steps: np.ndarray
    batch_size: np.ndarray
    idle_s: float = 0.0
    mix: bool = False  # mix all models by root-to-root exchange after this round
    info: dict[str, Any] = field(default_factory=dict)  # solver status, fallback reason, ...
    #: Forest the new models travel down along when it differs from ``parent`` (a repaired round); None: ``parent``.
    down_parent: np.ndarray | None = None
    #: FedProx's proximal weight mu (1/s^0, >= 0): local training adds ``mu (w - w_start)`` to every gradient.
    proximal_mu: float = 0.0

    @property
    def roots(self) -> np.ndarray:
        """Participating satellites without a parent."""
        return np.flatnonzero((self.parent < 0) & self.participating)


def default_resources(ctx: RoundContext) -> dict[str, np.ndarray]:
    """Full CPU speed and transmit power with the run's default e and B (no optimisation)."""
    res = ctx.scenario.resources
    n = len(ctx.available)
    return {"cpu_hz": np.asarray(res.max_cpu_hz, float).copy(),
            "tx_power_w": np.asarray(res.max_tx_power_w, float).copy(),
            "local_steps": np.full(n, ctx.local_steps, dtype=np.int64),
            "batch_size": np.full(n, ctx.batch_size, dtype=np.int64)}


def compute_load(ctx: RoundContext, plan: RoundPlan) -> ComputeLoad:
    """The compute side of the cost model for this plan."""
    res = ctx.scenario.resources
    return ComputeLoad(cpu_hz=plan.cpu_hz, local_steps=plan.local_steps.astype(float),
                       batch_size=plan.batch_size.astype(float),
                       cycles_per_sample=np.asarray(res.cycles_per_sample, float),
                       capacitance=np.asarray(res.capacitance, float),
                       static_power_w=np.asarray(res.static_power_w, float))


def tree_links(plan: RoundPlan) -> np.ndarray:
    """(L, 2) the tree links a round used (aggregation and dispatch forests): up at the round's end."""
    pairs = []
    for parent in (plan.parent, plan.down_parent):
        if parent is not None:
            parent = np.asarray(parent)
            kids = np.flatnonzero(parent >= 0)
            pairs.append(np.stack([np.minimum(kids, parent[kids]), np.maximum(kids, parent[kids])], axis=1))
    return np.unique(np.concatenate(pairs), axis=0) if pairs else np.zeros((0, 2), np.int64)


def uplink_acquisition_s(ctx: RoundContext, parent: np.ndarray) -> np.ndarray:
    """(N,) time to acquire each node's link to its parent (0 at roots and for links up last round)."""
    parent = np.asarray(parent)
    out = np.zeros(len(parent))
    kids = np.flatnonzero(parent >= 0)
    out[kids] = ctx.scenario.acquisition_s(kids, parent[kids], ctx.links_up)
    return out


def geometric_links(ctx: RoundContext, senders: np.ndarray, receivers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rate per watt (of the scenario's link technology) and delay between satellite pairs at this round's positions."""
    pos = np.asarray(ctx.snapshot.positions_km)
    distance = np.linalg.norm(pos[senders] - pos[receivers], axis=-1)
    return link_rate_per_watt(distance, ctx.scenario.link_params), propagation_delay_s(distance)


def plan_links(ctx: RoundContext, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rate per watt and delay of each node's link to its parent (NaN at roots).

    Candidate links of the snapshot are used as they are; a pair outside the candidate set (a
    plane-ring neighbour) is priced with the laser budget at its current distance.
    """
    snap = ctx.snapshot
    parent = np.asarray(parent)
    n = len(parent)
    rpw, delay = np.full(n, np.nan), np.full(n, np.nan)
    child = np.flatnonzero(parent >= 0)
    if len(child) == 0:
        return rpw, delay
    pos, found = find_edges(snap.edges, n, child, parent[child])
    rpw[child[found]] = np.asarray(snap.rate_per_watt)[pos[found]]
    delay[child[found]] = np.asarray(snap.delay_s)[pos[found]]
    other = child[~found]
    if len(other):
        rpw[other], delay[other] = geometric_links(ctx, other, parent[other])
    return rpw, delay


def relay_bits(ctx: RoundContext, parent: np.ndarray, contributing: np.ndarray) -> np.ndarray:
    """Bits each satellite sends to its parent when every contributing model is relayed to its root unsummed.

    Satellite n forwards its own model (if it contributes) and every model of its subtree: ``S`` times
    the number of contributing satellites below and at n (``S = scenario.model_bits``). With a partial
    sum instead (the in-network reduce) every uplink carries one model. Store-and-forward relaying as
    in the star baseline of [1]_, here along the tree.

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations, arXiv:2509.24932, 2025.
    """
    levels = forest_levels(np.asarray(parent))
    count = np.asarray(contributing, dtype=float).copy()
    for d in range(levels.height, 0, -1):  # deepest first: a node's count is complete before it is added up
        nodes = levels.levels[d]
        np.add.at(count, np.asarray(parent)[nodes], count[nodes])
    return ctx.scenario.model_bits * count


def root_mixes(ctx: RoundContext, plan: RoundPlan, root_bits: np.ndarray | None = None,
               round_links: np.ndarray | None = None) -> list[tuple[np.ndarray, MixingCost]]:
    """The round's root-to-root exchanges: all roots when ``plan.mix``, else each group of roots sharing a model id.

    ``root_bits`` (N,): what each root sends to the others (default one model); a group is priced at its largest
    root's bits (exact for one relayed tree, an upper bound when several relayed trees merge). A route link that is
    neither up from the previous round nor one of this round's own links (``round_links``, (L, 2); default the
    plan's forests, ``tree_links``) is acquired, as a tree link is (``scenario.acquisition_s``).
    """
    snap, sc = ctx.snapshot, ctx.scenario
    roots = plan.roots
    groups = [roots] if plan.mix else [roots[plan.tree_of[roots] == k] for k in np.unique(plan.tree_of[roots])]
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        return []
    edges = np.asarray(snap.edges, np.int64).reshape(-1, 2)
    own = tree_links(plan) if round_links is None else np.asarray(round_links, np.int64).reshape(-1, 2)
    up = own if ctx.links_up is None else np.concatenate([np.asarray(ctx.links_up, np.int64).reshape(-1, 2), own])
    acquisition = sc.acquisition_s(edges[:, 0], edges[:, 1], up)
    return [(group, mixing_cost(group, len(plan.parent), edges, snap.rate_bps, snap.delay_s,
                                sc.model_bits if root_bits is None else float(np.max(root_bits[group])),
                                plan.tx_power_w, sc.link_params.terminal_power_w, acquisition,
                                sc.link_params.packet_bits))
            for group in groups]


def add_mix(cost: RoundCost, mix: MixingCost, ready_s: float) -> float:
    """Charge one exchange's energy to ``cost`` and return how long it lengthens the round (s): its route, started
    once the sums are ready (``ready_s``) and its new links are acquired."""
    cost.transmit_energy_j = cost.transmit_energy_j + mix.transmit_energy_j
    if mix.acquisition_energy_j is not None:  # a part of the transmit energy, as a tree link's acquisition
        cost.transmit_energy_j = cost.transmit_energy_j + mix.acquisition_energy_j
        cost.acquisition_energy_j = mix.acquisition_energy_j if cost.acquisition_energy_j is None \
            else cost.acquisition_energy_j + mix.acquisition_energy_j
    return max(0.0, mix.acquire_s - ready_s) + mix.latency_s


def merge_roots_cost(ctx: RoundContext, plan: RoundPlan, cost: RoundCost,
                     root_bits: np.ndarray | None = None) -> RoundCost:
    """Add the root-to-root exchanges (:func:`root_mixes`) to a forest round's cost: the slowest lengthens it."""
    extra = 0.0
    for group, mix in root_mixes(ctx, plan, root_bits):
        extra = max(extra, add_mix(cost, mix, float(np.max(cost.up_done_s[group]))))
    cost.latency_s += extra
    return cost


def tree_cost(ctx: RoundContext, plan: RoundPlan, relay: bool = False) -> RoundCost:
    """Clock of a forest plan: walk up and down, then merge roots (``merge_roots_cost``).

    With ``relay`` every contributing model travels to its root unsummed (``relay_bits``); the new
    model still comes down the forest one copy per link.
    """
    rpw, delay = plan_links(ctx, plan.parent)
    up_bits = relay_bits(ctx, plan.parent, plan.participating) if relay else None
    cost = forest_round_cost(plan.parent, rpw, delay, ctx.scenario.model_bits,
                             ctx.scenario.link_params.max_rate_bps, plan.tx_power_w, compute_load(ctx, plan),
                             trains=plan.participating, terminal_power_w=ctx.scenario.link_params.terminal_power_w,
                             acquisition_s=uplink_acquisition_s(ctx, plan.parent), up_bits=up_bits,
                             packet_bits=ctx.scenario.link_params.packet_bits)
    return merge_roots_cost(ctx, plan, cost, up_bits)


class AggregationStrategy(ABC):
    """An aggregation policy. Subclass, implement ``plan_round``, and register it.

    Example (a star of the satellites with the most data, the rest idle)::

        from fedspan.strategies import AggregationStrategy, RoundPlan, register_strategy
        from fedspan.strategies.base import default_resources

        @register_strategy("top-half")
        class TopHalf(AggregationStrategy):
            def plan_round(self, ctx):
                keep = ctx.available & (ctx.sample_weight >= np.median(ctx.sample_weight))
                n = len(keep)
                return RoundPlan(parent=np.full(n, -1), tree_of=np.zeros(n, int),
                                 participating=keep, **default_resources(ctx))

    The default ``round_cost`` prices the forest with the shared clock, the default ``repair``
    re-attaches orphaned subtrees (``fedspan.repair.repair_forests``) and the default
    ``aggregate`` divides each model's weighted sum by its weight (mixing when ``plan.mix``).
    A complete, tested walk-through is in docs/strategies.md.
    """

    name: str = "strategy"
    #: Whether ``round_cost`` is the forest clock, so mid-round faults can be re-timed on a repaired
    #: forest; it also selects the default ``repair`` (forest repair if True, drop the failed if False).
    tree_clock: bool = True
    #: Whether the policy takes ``num_trees`` (forest policies): the run's K is passed to it unless its options set one.
    takes_num_trees: bool = False
    #: Whether ``aggregate`` reads ``update.client_updates`` (every contributing satellite's model).
    #: Off by default: it holds M x P floats that the in-network reduce along the tree avoids.
    needs_client_updates: bool = False
    #: Whether every contributing satellite's own model travels to its root unsummed (no in-network
    #: reduce): the forest clock then charges each uplink for its whole subtree's models (``relay_bits``).
    relays_client_updates: bool = False

    @property
    def chooses_knobs(self) -> bool:
        """Whether the policy chooses local steps and batch itself (so a run fits the time-to-accuracy model for it)."""
        return False

    def __init__(self, **options: Any) -> None:
        if options:
            raise StrategyError(f"strategy '{self.name}' takes no option(s) {', '.join(sorted(options))}")

    def num_models(self, scenario: Any) -> int:
        """How many models the policy keeps between rounds (constant for a run)."""
        return 1

    @abstractmethod
    def plan_round(self, ctx: RoundContext) -> RoundPlan:
        """Decide this round's forest/pattern and resources."""

    def round_cost(self, ctx: RoundContext, plan: RoundPlan) -> RoundCost:
        """Latency and per-satellite energy of the plan on the simulated clock."""
        return tree_cost(ctx, plan, relay=self.relays_client_updates)

    def links_used(self, ctx: RoundContext, plan: RoundPlan) -> np.ndarray:
        """(L, 2) satellite pairs whose links are up at the round's end (the next round acquires no other).

        Default: the plan's aggregation and dispatch forests (``tree_links``) and the routes of its root-to-root
        exchanges (:func:`root_mixes`).
        """
        links = [tree_links(plan)] + [mix.links for _, mix in root_mixes(ctx, plan)]
        return np.unique(np.concatenate(links), axis=0).astype(np.int64)

    def repair(self, ctx: RoundContext, plan: RoundPlan, failures: RoundFailures) -> RoundPlan:
        """The round's plan after mid-round ``failures`` (called only in rounds with faults).

        Return ``plan`` with the forest the surviving partial sums travel up (``parent``), the
        forest the new models travel down (``down_parent``; None: ``parent``), the model id of
        every satellite (``tree_of``) and who contributes (``participating``, a subset of
        ``failures.contributing``). A lost satellite may not relay up, a dead one not down.
        Resources are not repaired: the satellites trained with the plan's. The default is
        forest repair (``fedspan.repair.repair_forests``) when ``tree_clock``, else the failed are
        dropped; ``fedspan.faults.default_repair`` calls this method.
        """
        if not self.tree_clock:
            return replace(plan, participating=failures.contributing)
        up, down, tree_of = repair_forests(plan.parent, plan.tree_of, failures, ctx.snapshot.edges,
                                           ctx.snapshot.distance_km, np.asarray(ctx.scenario.resources.terminals))
        return replace(plan, parent=up, down_parent=down, tree_of=tree_of, participating=failures.contributing)

    def aggregate(self, ctx: RoundContext, plan: RoundPlan, update: RoundUpdate,
                  models: torch.Tensor) -> torch.Tensor:
        """The next ``(num_models, P)`` models from this round's per-model weighted sums.

        With ``needs_client_updates`` the update also carries ``client_updates`` (per satellite).
        """
        new = cluster_models(update.tree_sums, update.weight_sums, models)
        return mix_clusters(new, update.weight_sums) if plan.mix else new
