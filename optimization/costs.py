"""The round cost model of docs/architecture.md and docs/physical-model.md: compute, links, the walk.

One home for each formula, shared by the planner (:func:`optimization.evaluate`, the exact resources, the
search) and the learning layer's simulated clock (``fedspan.clock``):

* :func:`compute_costs` -- training time ``W / f`` and energy ``P_static W / f + (alpha / 2) W f^2`` of
  ``W`` cycles at clock ``f`` (static power while the computer trains, dynamic CMOS power ~ f^3);
* :func:`transfer_costs` -- a model transfer's time ``S / min(rate_per_watt P, cap) + delay`` and energy
  ``(P + overhead) * airtime`` (overhead: the link terminals' electrical power);
* :func:`walk_forest` -- the critical path of spanning aggregation (leaves -> roots) and dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.errors import InvalidForestError
from optimization.forests import forest_depths, validate_forest
from optimization.problem import SpanningProblem


@dataclass(frozen=True)
class RoundCosts:
    """Latency and energy of one round of a forest with given resources, with per-satellite detail.

    ``node_energy_j`` is the sum of the four kinds: dynamic and static compute energy, link energy (transmit
    power plus terminal electronics over the air time) and acquisition energy (terminals pointing at a new
    partner).
    """

    latency_s: float
    energy_j: float
    compute_time_s: np.ndarray
    up_time_s: np.ndarray
    down_time_s: np.ndarray
    node_energy_j: np.ndarray
    dynamic_energy_j: np.ndarray | None = None
    static_energy_j: np.ndarray | None = None
    link_energy_j: np.ndarray | None = None
    acquisition_energy_j: np.ndarray | None = None


def compute_costs(local_steps: np.ndarray, batch_size: np.ndarray, cycles_per_sample: np.ndarray,
                  cpu_hz: np.ndarray, capacitance: np.ndarray,
                  static_power_w: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time (s), dynamic energy (J) and static energy (J) of ``e`` local steps of batch ``B`` at ``cpu_hz``.

    The work is ``W = e B c`` cycles. Power while training is ``P_static + (alpha / 2) f^3`` (CMOS dynamic power
    with the supply voltage scaled with the clock [1]_), held for ``W / f`` seconds. With ``P_static > 0`` the
    cheapest clock is no longer the slowest: see :func:`energy_optimal_clock`.

    >>> import numpy as np
    >>> t, dyn, stat = compute_costs(1.0, 1.0, np.array([1e9]), np.array([1e9]), np.array([2e-27]), 1.5)
    >>> float(t[0]), float(dyn[0]), float(stat[0])  # 1 s at 1 GHz: (1e-27 * 1e18) J/cycle * 1e9 cycles, 1.5 W * 1 s
    (1.0, 1.0, 1.5)

    References
    ----------
    .. [1] T. D. Burd and R. W. Brodersen, "Energy efficient CMOS microprocessor design", Proc. 28th Hawaii
       International Conference on System Sciences, 1995.
    """
    time_s = local_steps * batch_size * cycles_per_sample / cpu_hz
    dynamic = 0.5 * capacitance * local_steps * batch_size * cycles_per_sample * cpu_hz**2
    return time_s, dynamic, static_power_w * time_s


def energy_optimal_clock(capacitance: np.ndarray, static_power_w: np.ndarray, min_hz: np.ndarray,
                         max_hz: np.ndarray) -> np.ndarray:
    """The clock (Hz) at which a cycle costs least, ``(P_static / alpha)^(1/3)``, boxed to ``[min_hz, max_hz]``.

    The energy per cycle ``P_static / f + (alpha / 2) f^2`` is convex in f with this minimiser; no clock below
    it saves energy, and none saves time, so it is the effective lowest clock ("race to idle" below it). With
    no static power it is ``min_hz``.

    >>> import numpy as np
    >>> round(float(energy_optimal_clock(np.array([2e-27]), np.array([2.0]), np.array([1e8]), np.array([2e9]))[0]) / 1e9, 9)
    1.0
    """
    with np.errstate(divide="ignore"):
        knee = np.cbrt(np.asarray(static_power_w, float) / np.asarray(capacitance, float))
    return np.clip(knee, min_hz, max_hz)


def fastest_clock_within(cycles: np.ndarray, room_j: np.ndarray, capacitance: np.ndarray,
                         static_power_w: np.ndarray, floor_hz: np.ndarray, max_hz: np.ndarray) -> np.ndarray:
    """Per satellite, the fastest clock in ``[floor_hz, max_hz]`` whose compute energy fits ``room_j`` (Hz).

    ``floor_hz`` must be at or above :func:`energy_optimal_clock`, where the energy rises with the clock, so the
    answer is a root found by bisection on the log clock (exact square root without static power). Where even
    ``floor_hz`` costs more than the room the result is below ``floor_hz`` (infeasible: callers test it).
    """
    cycles, room, alpha, static = np.broadcast_arrays(*(np.asarray(v, float) for v in (cycles, room_j, capacitance,
                                                                                      static_power_w)))
    with np.errstate(divide="ignore", invalid="ignore"):
        dynamic_only = np.minimum(max_hz, np.sqrt(np.maximum(room, 0.0) / (0.5 * alpha * cycles)))
    if not (static > 0).any():
        return dynamic_only

    def energy(f: np.ndarray) -> np.ndarray:
        return static * cycles / f + 0.5 * alpha * cycles * f * f

    has = static > 0  # only these need the bisection; the others keep the closed form
    floor = np.broadcast_to(np.asarray(floor_hz, float), has.shape)
    lo, hi = np.log(floor), np.log(np.where(has, np.asarray(max_hz, float), floor))
    fits_top = energy(np.exp(hi)) <= room
    fits_floor = energy(np.exp(lo)) <= room
    a, b = lo.copy(), hi.copy()
    for _ in range(60):  # the clock to ~1e-16 relative: (hi - lo) / 2^60
        mid = 0.5 * (a + b)
        ok = energy(np.exp(mid)) <= room
        a, b = np.where(ok, mid, a), np.where(ok, b, mid)
    found = np.where(fits_top, np.exp(hi), np.exp(a))
    found = np.where(fits_floor, found, 0.0)
    return np.where(has, found, dynamic_only)


def terminal_overhead_w(terminal_power_w: float) -> float:
    """Terminal electronics a model transfer keeps busy (W): one terminal at each end, both charged to the sender.

    Charging the pair to the sender is exact per satellite when both directions of a link run at the same rate (at
    the rate cap, where the planner's knee rule puts every link); docs/physical-model.md, "Energy accounting".

    >>> terminal_overhead_w(8.0)
    16.0
    """
    return 2.0 * float(terminal_power_w)


def transfer_costs(bits: float | np.ndarray, rate_per_watt: np.ndarray, power_w: np.ndarray, max_rate_bps: float,
                   delay_s: float | np.ndarray = 0.0, overhead_w: float | np.ndarray = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and sender energy (J) of sending `bits` over links given as plain arrays.

    The one home of the link-time formula ``S / min(rate_per_watt * P, cap) + delay``; the
    energy is ``(P + overhead) * S / min(rate_per_watt * P, cap)`` (air time only, no propagation delay),
    where ``overhead`` is the electrical power of the terminals that the transfer keeps busy.

    >>> import numpy as np
    >>> t, e = transfer_costs(1e6, np.array([1e9]), np.array([2.0]), 1e9, 0.01, overhead_w=20.0)
    >>> round(float(t[0]), 6), round(float(e[0]), 6)  # 1 ms at the 1 Gbit/s cap, plus 10 ms delay; 22 W for 1 ms
    (0.011, 0.022)
    """
    power_w = np.asarray(power_w, dtype=float)
    rate = np.minimum(np.asarray(rate_per_watt, dtype=float) * power_w, max_rate_bps)
    airtime = bits / rate
    return airtime + delay_s, (power_w + overhead_w) * airtime


def link_costs(problem: SpanningProblem, edge: np.ndarray, tx_power_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and energy (J) of sending the model over `edge` at power `tx_power_w` (terminals included)."""
    return transfer_costs(problem.model_bits, problem.rate_per_watt[edge], tx_power_w, problem.max_rate_bps,
                          problem.delay_s[edge], terminal_overhead_w(problem.terminal_power_w))


def packet_times(problem: SpanningProblem, edge: np.ndarray, tx_power_w: np.ndarray) -> np.ndarray:
    """Time (s) of one forwarded packet (``problem.packet_bits``, at most the model) over `edge`, delay included."""
    bits = problem.packet_fraction * problem.model_bits
    return transfer_costs(bits, problem.rate_per_watt[edge], tx_power_w, problem.max_rate_bps,
                          problem.delay_s[edge])[0]


def forest_packet_times(problem: SpanningProblem, parent: np.ndarray, uplink: np.ndarray, tx_power_w: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """(N,) s of one packet up each node's uplink (at its power) and down it (at its parent's), 0 at roots; (None,
    None) where whole models are stored and forwarded. ``uplink``: each node's candidate-edge index."""
    if problem.packet_fraction >= 1:
        return None, None
    kids = np.flatnonzero(parent >= 0)
    up, down = np.zeros(len(parent)), np.zeros(len(parent))
    up[kids] = packet_times(problem, uplink[kids], tx_power_w[kids])
    down[kids] = packet_times(problem, uplink[kids], tx_power_w[parent[kids]])
    return up, down


def acquisition_costs(problem: SpanningProblem, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) to acquire each link in `edge` and the energy (J) of its two terminals meanwhile."""
    acq = problem.acquisition_s[edge]
    return acq, terminal_overhead_w(problem.terminal_power_w) * acq


@dataclass(frozen=True)
class ForestTimeline:
    """Per node (s): its partial sum complete (``up_s``), the new model held (``down_s``), its message to its parent
    starting (``send_s``) and fully arrived (``delivered_s``; both inf at roots). What a fault at time t broke."""

    up_s: np.ndarray
    down_s: np.ndarray
    send_s: np.ndarray
    delivered_s: np.ndarray


def walk_forest(parent: np.ndarray, ready_s: np.ndarray, up_link_s: np.ndarray, down_link_s: np.ndarray,
                earliest_send_s: np.ndarray | None = None, down_parent: np.ndarray | None = None,
                depth: np.ndarray | None = None, up_packet_s: np.ndarray | None = None,
                down_packet_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """When each node's partial sum is complete and when it holds the new model (s): :func:`forest_timeline`'s
    ``(up_s, down_s)``."""
    line = forest_timeline(parent, ready_s, up_link_s, down_link_s, earliest_send_s, down_parent, depth,
                           up_packet_s, down_packet_s)
    return line.up_s, line.down_s


def forest_timeline(parent: np.ndarray, ready_s: np.ndarray, up_link_s: np.ndarray, down_link_s: np.ndarray,
                    earliest_send_s: np.ndarray | None = None, down_parent: np.ndarray | None = None,
                    depth: np.ndarray | None = None, up_packet_s: np.ndarray | None = None,
                    down_packet_s: np.ndarray | None = None) -> ForestTimeline:
    """When each node's partial sum is complete and when it holds the new model (s), by one walk each way; with
    when each message to a parent starts and when it has fully arrived.

    A node sends up once its own work (``ready_s``) is done, every child's message has arrived and (if given)
    ``earliest_send_s`` has passed (an uplink still being acquired, a subtree re-sending after a fault); the
    message takes ``up_link_s`` (per child, its link to its parent). A root holds its tree's model when its sum
    is complete; the model then flows down ``down_parent`` (default ``parent``), taking ``down_link_s`` (per
    child) on each link. Events are grouped by depth (messages of one level are independent), so the walk is
    exact and vectorised: the critical-path (CPM) recursion of the Fed-Span round [1]_.

    With ``up_packet_s`` / ``down_packet_s`` (per child, one packet's time on its link, delay included) a relay
    forwards packet by packet (cut-through): it starts once its own work is done and every child's first packet
    has arrived, and its last packet arrives no earlier than the whole message takes from that start, nor before
    the last packet of every child has arrived plus one packet on its own link. This is the flow-shop recursion
    of a pipeline with the same number of packets on every link, exact for summed messages [2]_ (a last, shorter
    packet is priced as a whole one: at most one packet per hop too slow); the root starts the dispatch once its
    sum is complete. With packets as long as the whole message it is the walk above. Where relays forward their
    children's messages unsummed (``up_link_s`` of different sizes), it is an upper bound.

    >>> import numpy as np
    >>> up, down = walk_forest(np.array([-1, 0, 1]), np.array([1.0, 1.0, 2.0]), np.array([0, 0.5, 0.5]),
    ...                        np.array([0, 0.25, 0.25]))
    >>> up.tolist(), down.tolist()
    ([3.0, 2.5, 2.0], [3.0, 3.25, 3.5])
    >>> up, down = walk_forest(np.array([-1, 0, 1]), np.array([1.0, 1.0, 2.0]), np.array([0, 0.5, 0.5]),
    ...                        np.array([0, 0.25, 0.25]), up_packet_s=np.array([0, 0.1, 0.1]),
    ...                        down_packet_s=np.array([0, 0.05, 0.05]))
    >>> up.tolist(), down.tolist()  # node 1 relays node 2's packets as they come: 2.6, not 3.0
    ([2.6, 2.5, 2.0], [2.6, 2.85, 2.9])
    >>> line = forest_timeline(np.array([-1, 0, 1]), np.array([1.0, 1.0, 2.0]), np.array([0, 0.5, 0.5]),
    ...                        np.array([0, 0.25, 0.25]))
    >>> line.send_s.tolist(), line.delivered_s.tolist()  # node 1 sends at 2.5, once node 2's model is in
    ([inf, 2.5, 2.0], [inf, 3.0, 2.5])

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations, arXiv:2509.24932, 2025.
    .. [2] M. Pinedo, Scheduling: Theory, Algorithms, and Systems, 5th ed., Springer, 2016, ch. 6 (flow shops
       with unlimited intermediate storage; the critical path of a permutation flow shop).
    """
    parent = np.asarray(parent)
    n = len(parent)
    up = np.asarray(ready_s, dtype=float).copy()
    sent, delivered = np.full(n, np.inf), np.full(n, np.inf)
    if n == 0:
        return ForestTimeline(up, up.copy(), sent, delivered)
    depth = _depths(parent) if depth is None else depth
    kids = np.flatnonzero(parent >= 0)
    kid_depth = depth[kids]
    top = int(depth.max())
    start = None if up_packet_s is None else up.copy()  # when a relay may send its first packet
    # Level by level: a parent finishes after its slowest child's model has arrived.
    for level in range(top, 0, -1):
        sel = kids[kid_depth == level]
        if start is None:
            send = up[sel] if earliest_send_s is None else np.maximum(up[sel], earliest_send_s[sel])
            last = send + up_link_s[sel]
        else:
            send = start[sel] if earliest_send_s is None else np.maximum(start[sel], earliest_send_s[sel])
            last = np.maximum(send + up_link_s[sel], up[sel] + up_packet_s[sel])
            np.maximum.at(start, parent[sel], send + up_packet_s[sel])
        sent[sel], delivered[sel] = send, last
        np.maximum.at(up, parent[sel], last)
    down_parent = parent if down_parent is None else np.asarray(down_parent)
    down_depth = depth if down_parent is parent else _depths(down_parent)
    down_kids = np.flatnonzero(down_parent >= 0)
    down_kid_depth = down_depth[down_kids]
    down = up.copy()
    first = None if down_packet_s is None else up.copy()  # when a node holds the new model's first packet
    for level in range(1, int(down_depth.max()) + 1):
        sel = down_kids[down_kid_depth == level]
        above = down_parent[sel]
        if first is None:
            down[sel] = down[above] + down_link_s[sel]
            continue
        down[sel] = np.maximum(first[above] + down_link_s[sel], down[above] + down_packet_s[sel])
        first[sel] = first[above] + down_packet_s[sel]
    return ForestTimeline(up, down, sent, delivered)


def path_times(parent: np.ndarray, link_s: np.ndarray, packet_s: np.ndarray | None = None,
               depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the time its model takes to or from its root (s), and its root; ``link_s[n]`` (s) is node n's link
    to its parent (0 at roots); ``depth``: the forest's integer depths, when known.

    Store and forward (``packet_s`` None) that is the links' sum. Where relays forward packets (``packet_s[n]``: one
    packet on n's link) it is one packet per hop plus, once, the path's largest ``link - packet`` (its pipeline's
    bottleneck): the longest path of the packet-level schedule that :func:`forest_timeline` walks, so the round of a
    forest is ``max_n(ready_n + up path_n) + the tree's slowest down path``.

    >>> import numpy as np
    >>> path_times(np.array([-1, 0, 1]), np.array([0.0, 2.0, 3.0]), np.array([0.0, 0.5, 0.5]))[0].tolist()
    [0.0, 2.0, 3.5]
    """
    parent = np.asarray(parent)
    link = np.asarray(link_s, dtype=float)
    packet = link if packet_s is None else np.asarray(packet_s, dtype=float)
    depth = _depths(parent) if depth is None else depth
    hops, bottleneck, root = np.zeros(len(parent)), np.zeros(len(parent)), np.arange(len(parent))
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(1, int(depth.max(initial=0)) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # shallowest first: a parent's path is complete before its children's
        sel = order[lo:hi]
        above = parent[sel]
        hops[sel] = hops[above] + packet[sel]
        bottleneck[sel] = np.maximum(bottleneck[above], link[sel] - packet[sel])
        root[sel] = root[above]
    return hops + bottleneck, root


def _depths(parent: np.ndarray) -> np.ndarray:
    """Integer depths of a forest; InvalidForestError on a cycle."""
    depth = forest_depths(parent)
    if not np.isfinite(depth).all():
        i = int(np.flatnonzero(~np.isfinite(depth))[0])
        raise InvalidForestError(f"satellite {i} does not reach a root: parent array has a cycle")
    return depth.astype(int)


def round_costs(
    problem: SpanningProblem,
    parent: np.ndarray,
    cpu_hz: np.ndarray,
    tx_power_w: np.ndarray,
    local_steps: np.ndarray,
    batch_size: np.ndarray,
) -> RoundCosts:
    """Critical-path latency and total energy of spanning aggregation plus dispatch on `parent`.

    The round latency and energy model written out in docs/architecture.md and docs/physical-model.md, after
    the system model of the Fed-Span paper [1]_, extended with static compute power, terminal power and link
    acquisition.

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations,
       arXiv:2509.24932, 2025.
    """
    res = problem.resources
    parent = np.asarray(parent)
    uplink = validate_forest(problem, parent)
    compute_t, dynamic_e, static_e = compute_costs(local_steps, batch_size, res.cycles_per_sample, cpu_hz,
                                                   res.capacitance, res.static_power_w)
    kids = np.flatnonzero(parent >= 0)
    n = problem.num_nodes
    up_link, down_link, acquire = np.zeros(n), np.zeros(n), np.zeros(n)
    up_link[kids], up_e = link_costs(problem, uplink[kids], tx_power_w[kids])
    down_link[kids], down_e = link_costs(problem, uplink[kids], tx_power_w[parent[kids]])
    acquire[kids], acq_e = acquisition_costs(problem, uplink[kids])
    up_packet, down_packet = forest_packet_times(problem, parent, uplink, tx_power_w)
    up, down = walk_forest(parent, compute_t.astype(float), up_link, down_link,
                           earliest_send_s=acquire if acquire.any() else None, up_packet_s=up_packet,
                           down_packet_s=down_packet)
    link_e = np.zeros(n)
    np.add.at(link_e, kids, up_e)
    np.add.at(link_e, parent[kids], down_e)
    acq_node = np.zeros(n)
    acq_node[kids] = acq_e
    node_e = dynamic_e + static_e
    np.add.at(node_e, kids, up_e)
    np.add.at(node_e, parent[kids], down_e)
    node_e = node_e + acq_node
    return RoundCosts(
        latency_s=float(down.max()),
        energy_j=float(node_e.sum()),
        compute_time_s=compute_t,
        up_time_s=up,
        down_time_s=down,
        node_energy_j=node_e,
        dynamic_energy_j=dynamic_e,
        static_energy_j=static_e,
        link_energy_j=link_e,
        acquisition_energy_j=acq_node,
    )
