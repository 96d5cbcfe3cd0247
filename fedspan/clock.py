"""The simulated clock and energy ledger of a round (cost model of docs/architecture.md).

The clock walks the actual forest: a node may send once its own training is done, its uplink is
acquired and every child's message has arrived; each message takes ``S / R + delay`` with the link of
that round. The walk, the compute and the link formulas are the optimizer's (``optimization.costs``:
``walk_forest``, ``compute_costs``, ``transfer_costs``), so the planner and the clock price a round
with one cost model; what the clock adds is what faults need (satellites that do not train, delayed
re-sends, a repaired dispatch forest, links outside the candidate graph) and the per-satellite ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedspan.aggregation import forest_levels
from fedspan.errors import FedSpanError
from optimization.costs import compute_costs, forest_timeline, terminal_overhead_w, transfer_costs
from optimization.exchange import exchange_route
from optimization.forests import find_edges  # noqa: F401  (re-exported: the edge lookup's home)


class ClockError(FedSpanError):
    """A tree edge that is not a candidate link, or resources of the wrong shape."""


@dataclass(frozen=True)
class ComputeLoad:
    """Per-satellite local work and hardware of one round (all arrays of length N)."""

    cpu_hz: np.ndarray
    local_steps: np.ndarray
    batch_size: np.ndarray
    cycles_per_sample: np.ndarray
    capacitance: np.ndarray
    static_power_w: np.ndarray | float = 0.0

    def _costs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return compute_costs(self.local_steps, self.batch_size, self.cycles_per_sample, self.cpu_hz,
                             self.capacitance, self.static_power_w)

    def time_s(self) -> np.ndarray:
        """``T_n = e_n B_n c_n / f_n`` (s)."""
        return self._costs()[0]

    def energy_j(self) -> np.ndarray:
        """Compute energy (J): dynamic ``(alpha_n / 2) e_n B_n c_n f_n^2`` plus static ``P_static T_n``."""
        _, dynamic, static = self._costs()
        return dynamic + static

    def static_energy_j(self) -> np.ndarray:
        """The static part of :meth:`energy_j` (J)."""
        return self._costs()[2]


def cadence_deadline(schedule: str, round_interval_s: float, round_index: int, time_s: float) -> float | None:
    """The round's deadline (s from ``time_s``): what is left to the tick that starts round ``round_index + 1``.

    ``schedule="cadence"`` ticks every ``round_interval_s``; a round that starts behind (its predecessor
    overran) gets what is left, at least 1 ms, so the planner makes it as fast as it can. Back to back
    (any other schedule) there is no deadline: None. The one rule the run and the ``plan`` horizon share.

    >>> cadence_deadline("cadence", 600.0, 2, 1200.0), cadence_deadline("back-to-back", 600.0, 2, 1200.0)
    (600.0, None)
    """
    if schedule != "cadence":
        return None
    return max((round_index + 1) * round_interval_s - time_s, 1e-3)


def edge_index(edges: np.ndarray, num_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row of each undirected pair ``(u, v)`` in the sorted candidate ``edges``; ClockError if absent."""
    pos, found = find_edges(edges, num_nodes, u, v)
    if not found.all():
        i = int(np.flatnonzero(~found)[0])
        raise ClockError(f"tree link ({int(u[i])}, {int(v[i])}) is not a candidate link of this round")
    return pos


@dataclass
class RoundCost:
    """Timing and energy of one round on the simulated clock."""

    latency_s: float
    up_done_s: np.ndarray  # (N,) when each node's partial sum is complete (U_n)
    down_done_s: np.ndarray  # (N,) when each node holds the new model (D_n)
    compute_energy_j: np.ndarray  # (N,) dynamic + static
    transmit_energy_j: np.ndarray  # (N,) links (transmit power + terminals) + acquisition
    static_energy_j: np.ndarray | None = None  # (N,) the static part of compute_energy_j
    acquisition_energy_j: np.ndarray | None = None  # (N,) the acquisition part of transmit_energy_j
    #: (N,) when each node's message to its parent starts and has fully arrived (inf at roots); None where the
    #: policy's clock is not a forest walk
    send_s: np.ndarray | None = None
    delivered_s: np.ndarray | None = None

    @property
    def energy_per_satellite_j(self) -> np.ndarray:
        """Compute plus transmission energy of each satellite."""
        return self.compute_energy_j + self.transmit_energy_j

    @property
    def energy_j(self) -> float:
        """Total energy of the round."""
        return float(self.energy_per_satellite_j.sum())


def forest_round_cost(parent: np.ndarray, link_rate_per_watt: np.ndarray, link_delay_s: np.ndarray,
                      model_bits: float, max_rate_bps: float, tx_power_w: np.ndarray, load: ComputeLoad,
                      trains: np.ndarray | None = None, earliest_send_s: np.ndarray | None = None,
                      down_parent: np.ndarray | None = None, down_rate_per_watt: np.ndarray | None = None,
                      down_delay_s: np.ndarray | None = None, terminal_power_w: float = 0.0,
                      acquisition_s: np.ndarray | None = None, up_bits: np.ndarray | None = None,
                      packet_bits: float = 0.0) -> RoundCost:
    """Walk the forest up (aggregation) then down (dispatch) and price every event.

    ``trains`` masks satellites that do local work; ``earliest_send_s`` delays a node's upward
    send (a re-parented subtree can only re-send after the fault is detected). The dispatch may
    use a different (repaired) forest ``down_parent`` with its own links. ``terminal_power_w`` is one
    link terminal's electrical power while active (two per transfer, charged to the sender) and
    ``acquisition_s`` (N,) the time to acquire each node's uplink (0 where it was up last round): it runs
    from the round's start beside training, with both terminals drawing power. ``up_bits`` (N,) is what
    each node sends to its parent (bits) when that is not one model: a policy that relays every
    satellite's own model instead of a partial sum (``fedspan.strategies.base.relay_bits``). ``packet_bits`` > 0:
    relays forward packet by packet (``walk_forest``'s cut-through walk), a message's packets at most its size.
    """
    parent = np.asarray(parent)
    n = len(parent)
    trains = np.ones(n, bool) if trains is None else np.asarray(trains, bool)
    power = np.asarray(tx_power_w, dtype=float)
    compute_t = np.where(trains, load.time_s(), 0.0)
    compute_e = np.where(trains, load.energy_j(), 0.0)
    static_e = np.where(trains, load.static_energy_j(), 0.0)
    over = terminal_overhead_w(terminal_power_w)
    up_levels = forest_levels(parent)  # validates the forest (ClockError-family message on a cycle)
    has_up = parent >= 0
    up_time, tx_e = np.zeros(n), np.zeros(n)
    kids = np.flatnonzero(has_up)
    bits_up = model_bits if up_bits is None else np.asarray(up_bits, dtype=float)[kids]
    up_time[kids], tx_e[kids] = transfer_costs(bits_up, np.nan_to_num(link_rate_per_watt)[kids], power[kids],
                                               max_rate_bps, np.nan_to_num(link_delay_s)[kids], over)
    acq_e = np.zeros(n)
    send_after = earliest_send_s
    if acquisition_s is not None and np.any(acquisition_s[kids] > 0):
        acquire = np.where(has_up, np.asarray(acquisition_s, float), 0.0)
        acq_e = over * acquire
        send_after = acquire if earliest_send_s is None else np.maximum(acquire, earliest_send_s)
    if down_parent is None:
        down_parent, down_rate_per_watt, down_delay_s = parent, link_rate_per_watt, link_delay_s
    else:
        down_parent = np.asarray(down_parent)
        forest_levels(down_parent)
    down_time = np.zeros(n)
    down_kids = np.flatnonzero(down_parent >= 0)
    sender = down_parent[down_kids]
    down_time[down_kids], down_e = transfer_costs(model_bits, np.nan_to_num(down_rate_per_watt)[down_kids],
                                                  power[sender], max_rate_bps, np.nan_to_num(down_delay_s)[down_kids],
                                                  over)
    np.add.at(tx_e, sender, down_e)
    up_packet = down_packet = None
    if packet_bits > 0:
        up_packet, down_packet = np.zeros(n), np.zeros(n)
        up_packet[kids] = transfer_costs(np.minimum(packet_bits, bits_up), np.nan_to_num(link_rate_per_watt)[kids],
                                         power[kids], max_rate_bps, np.nan_to_num(link_delay_s)[kids])[0]
        down_packet[down_kids] = transfer_costs(min(packet_bits, model_bits),
                                                np.nan_to_num(down_rate_per_watt)[down_kids], power[sender],
                                                max_rate_bps, np.nan_to_num(down_delay_s)[down_kids])[0]
    line = forest_timeline(parent, compute_t, up_time, down_time, earliest_send_s=send_after,
                           down_parent=down_parent, depth=up_levels.depth, up_packet_s=up_packet,
                           down_packet_s=down_packet)
    return RoundCost(latency_s=float(line.down_s.max()) if n else 0.0, up_done_s=line.up_s, down_done_s=line.down_s,
                     compute_energy_j=compute_e, transmit_energy_j=tx_e + acq_e, static_energy_j=static_e,
                     acquisition_energy_j=acq_e, send_s=line.send_s, delivered_s=line.delivered_s)


@dataclass
class MixingCost:
    """Root-to-root exchange: every reachable root sends to a leader and gets the mix back."""

    latency_s: float
    transmit_energy_j: np.ndarray  # (N,)
    reachable: np.ndarray  # (R,) bool per root, in the order given
    leader: int
    #: s from the round's start until the route's last link not up in the previous round is acquired (0: none)
    acquire_s: float = 0.0
    #: (H, 2) the route's links (satellite pairs, low index first): up at the round's end
    links: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    #: (N,) J of acquiring the route's new links (both terminals, charged to the hop's first sender; not in
    #: ``transmit_energy_j``); None: none
    acquisition_energy_j: np.ndarray | None = None


def mixing_cost(roots: np.ndarray, num_nodes: int, edges: np.ndarray, rate_bps: np.ndarray,
                delay_s: np.ndarray, model_bits: float, tx_power_w: np.ndarray, terminal_power_w: float = 0.0,
                acquisition_s: np.ndarray | None = None, packet_bits: float = 0.0) -> MixingCost:
    """Shortest-path (by link time) exchange of cluster models between roots over the ISL graph.

    The leader is the root minimizing the slowest path; models travel store-and-forward (or packet by packet with
    ``packet_bits`` > 0), up and back, so latency is twice the slowest path and each hop is paid twice by its sender: the transmit power and
    both ends' terminals (``terminal_power_w`` each, :func:`~optimization.costs.terminal_overhead_w`) over the
    air time, as a tree link. ``acquisition_s`` (per edge of ``edges``, 0 where the link was up in the previous
    round): a route link is acquired from the round's start, beside training, its two terminals charged to the
    hop's first sender; ``acquire_s`` says when the last is up (the caller starts the exchange no earlier).

    The route (leader, paths, latency) is :func:`optimization.exchange.exchange_route`, as the planner's
    ``optimization.evaluate.mixing_costs``; the pricing differs on purpose: the planner prices each hop
    at the lower endpoint's *maximum* power and energy ``model_bits / rate_per_watt`` as one total, while
    the clock uses the round's actual link rates (``rate_bps``), charges each sender at its planned
    power, and returns the per-satellite energy, the reachable roots and the leader that the ledger and
    the fault model need.
    """
    roots = np.asarray(roots, dtype=np.int64)
    tx_e = np.zeros(num_nodes)
    if len(roots) <= 1 or len(edges) == 0:
        return MixingCost(0.0, tx_e, np.ones(len(roots), bool), int(roots[0]) if len(roots) else -1)
    hop = model_bits / np.asarray(rate_bps, float) + np.asarray(delay_s, float)
    packet = None
    if 0 < packet_bits < model_bits:  # relays pass packets on: a path pays the model once and a packet per hop
        packet = packet_bits / np.asarray(rate_bps, float) + np.asarray(delay_s, float)
    e = np.asarray(edges)
    route = exchange_route(num_nodes, e, hop, roots, acquisition_s, packet)
    power = np.asarray(tx_power_w, float)
    overhead = terminal_overhead_w(terminal_power_w)
    s_arr, r_arr = route.senders, route.receivers
    acquire, acq_e = 0.0, None
    if len(s_arr):
        rows = edge_index(e, num_nodes, s_arr, r_arr)
        bits_time = model_bits / np.asarray(rate_bps, float)[rows]
        np.add.at(tx_e, s_arr, (power[s_arr] + overhead) * bits_time)  # up to the leader
        np.add.at(tx_e, r_arr, (power[r_arr] + overhead) * bits_time)  # the mix back down
        if acquisition_s is not None:  # once per link, though several roots' paths may share it
            unique_rows, first = np.unique(rows, return_index=True)
            acq = np.asarray(acquisition_s, float)[unique_rows]
            acq_e = np.zeros(num_nodes)
            np.add.at(acq_e, s_arr[first], overhead * acq)
            acquire = float(acq.max())
    links = np.unique(np.stack([np.minimum(s_arr, r_arr), np.maximum(s_arr, r_arr)], axis=1), axis=0) \
        if len(s_arr) else np.zeros((0, 2), np.int64)
    reachable, leader, latency = route.reachable, int(roots[route.leader]), route.latency_s
    return MixingCost(latency, tx_e, reachable, leader, acquire, links, acq_e)


@dataclass
class RoundRecord:
    """One round in the ledger: when it ran, how long it took and what each satellite spent."""

    round_index: int
    time_s: float
    latency_s: float
    idle_s: float
    compute_energy_j: np.ndarray
    transmit_energy_j: np.ndarray
    fault_extra_latency_s: float = 0.0
    fault_extra_energy_j: float = 0.0
    #: Energy by kind (N,), J, where the hardware has them: the static part of compute_energy_j and the
    #: acquisition part of transmit_energy_j (None: the paper's model, where both are 0).
    static_energy_j: np.ndarray | None = None
    acquisition_energy_j: np.ndarray | None = None

    @property
    def energy_j(self) -> float:
        """Total energy of the round, faults included."""
        return float(self.compute_energy_j.sum() + self.transmit_energy_j.sum())


@dataclass
class EnergyLedger:
    """Per-round, per-satellite energy and the round latencies of a whole run."""

    num_satellites: int
    records: list[RoundRecord] = field(default_factory=list)

    def add(self, record: RoundRecord) -> None:
        """Append one round; its arrays must cover every satellite."""
        if record.compute_energy_j.shape != (self.num_satellites,):
            raise ClockError(f"round {record.round_index}: energy array has shape "
                             f"{record.compute_energy_j.shape}, expected ({self.num_satellites},)")
        self.records.append(record)

    @property
    def total_energy_j(self) -> float:
        """Energy of the whole run."""
        return float(sum(r.energy_j for r in self.records))

    @property
    def total_latency_s(self) -> float:
        """Sum of round latencies (idle time excluded)."""
        return float(sum(r.latency_s for r in self.records))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (arrays as lists)."""
        return {"num_satellites": self.num_satellites, "records": [
            {"round_index": r.round_index, "time_s": r.time_s, "latency_s": r.latency_s, "idle_s": r.idle_s,
             "compute_energy_j": r.compute_energy_j.tolist(), "transmit_energy_j": r.transmit_energy_j.tolist(),
             "fault_extra_latency_s": r.fault_extra_latency_s, "fault_extra_energy_j": r.fault_extra_energy_j,
             **{kind: getattr(r, kind).tolist() for kind in ("static_energy_j", "acquisition_energy_j")
                if getattr(r, kind) is not None}}
            for r in self.records]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EnergyLedger":
        """Inverse of :meth:`to_dict`."""
        ledger = cls(int(data["num_satellites"]))
        for r in data["records"]:
            ledger.add(RoundRecord(
                round_index=int(r["round_index"]), time_s=float(r["time_s"]), latency_s=float(r["latency_s"]),
                idle_s=float(r["idle_s"]), compute_energy_j=np.asarray(r["compute_energy_j"], float),
                transmit_energy_j=np.asarray(r["transmit_energy_j"], float),
                fault_extra_latency_s=float(r.get("fault_extra_latency_s", 0.0)),
                fault_extra_energy_j=float(r.get("fault_extra_energy_j", 0.0)),
                **{kind: np.asarray(r[kind], float) for kind in ("static_energy_j", "acquisition_energy_j")
                   if r.get(kind) is not None}))
        return ledger
