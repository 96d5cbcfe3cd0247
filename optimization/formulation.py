"""The Fed-Span signomial program in log space (units GHz, Mbit, s, J, W): tables, bounds, condensations.

Variables (all positive, stored as logs): the topology block of `optimization.ccr` (arc indicators x
(child -> parent), root indicators r, o >= the sum of a node's out-arcs, depth labels d; its rows are
the exact CCR of rooted spanning forests with K roots and enter this program unchanged; a satellite's
parent-link sums are weighted by x^ = (x - eps) / (1 - eps), so an unused arc at the floor eps adds
nothing to them), CPU clock f, power P, local steps e, batch B; per arc the air times lu/ld; per node the time
its partial sum is ready (tu) and has reached the parent (ts), the time the parent holds the new model
(tr) and the node does (td), and the air times au/ad and propagation delay dl of its own parent link;
the variance factor v >= 1/B - 1/D, round latency T, mean steps s <= sum rho e, and u >= max e.
With `fixed=True` the topology is the given forest (x = 1 on its arcs) and only resources move.
The SCA's starting points (an integral forest, or a fractional point) are in `optimization.sca_start`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.bound import C_DRIFT, C_DRIFT_LOCAL, C_GAP, C_NOISE, cluster_dissimilarity, data_shares
from optimization.defaults import Resources
from optimization.evaluate import mixing_costs, objective_scales
from optimization.ccr import DEFAULT_SLACK, TopologyCCR, build_ccr, floor_value, topology_layout
from optimization.posynomials import Layout, Table, TableBuilder, condense, condense_groups, stack
from optimization.problem import SpanningProblem
from optimization.costs import terminal_overhead_w

GHZ, MBIT = 1e9, 1e6
FREE = 15.0  # |log| bound on auxiliary variables: keeps interior-point solvers away from overflow


@dataclass
class Arcs:
    """Directed candidate arcs: `tail` sends to its parent `head` over undirected edge `edge`."""

    tail: np.ndarray
    head: np.ndarray
    edge: np.ndarray

    @classmethod
    def all_of(cls, problem: SpanningProblem) -> Arcs:
        """Both directions of every candidate edge."""
        return cls.of_edges(problem, np.arange(problem.num_edges))

    @classmethod
    def of_edges(cls, problem: SpanningProblem, idx: np.ndarray) -> Arcs:
        """Both directions of the candidate edges `idx`."""
        e = problem.edges[idx]
        return cls(np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]], np.r_[idx, idx])

    @classmethod
    def nearest(cls, problem: SpanningProblem, cost: np.ndarray, per_node: int, keep: np.ndarray) -> Arcs:
        """Both directions of every satellite's `per_node` cheapest candidate edges by `cost`, plus edges `keep`."""
        e = problem.edges
        ends = np.r_[e[:, 0], e[:, 1]]
        ids = np.r_[np.arange(len(e)), np.arange(len(e))]
        order = np.lexsort((cost[ids], ends))
        ends, ids = ends[order], ids[order]
        rank = np.arange(len(ends)) - np.searchsorted(ends, ends)
        chosen = np.zeros(len(e), bool)
        chosen[ids[rank < per_node]] = True
        chosen[keep] = True
        return cls.of_edges(problem, np.flatnonzero(chosen))



@dataclass
class SignomialProgram:
    """Everything the convex subproblems and the numpy checks need, built once per (problem, arcs)."""

    problem: SpanningProblem
    arcs: Arcs
    num_trees: int
    fixed: bool
    layout: Layout
    lower: np.ndarray
    upper: np.ndarray
    decision: np.ndarray
    posy: Table
    linear: Table
    objective: Table
    rho: np.ndarray
    num_samples: np.ndarray
    penalty: float
    ccr: TopologyCCR | None = None
    #: (numerator, denominator) tables of the rows numerator <= denominator, group by group: a satellite's
    #: parent-link sums weighted by x^ (not fixed only); the SCA condenses each denominator
    ratio: tuple[Table, Table] | None = None
    #: (latency s, energy J) per round of the root-to-root exchange, in the objective of a fixed forest
    mixing: tuple[float, float] = (0.0, 0.0)

    @property
    def penalty_numerator(self) -> float:
        """N, about sum x^2 + sum r^2 at an integral point (N - K arcs and K roots at 1): the penalty
        N / (sum x^2 + sum r^2) is about 1 there and larger at fractional points."""
        return float(self.problem.num_nodes)

    def _binary_logs(self, z: np.ndarray) -> np.ndarray:
        """log x and log r stacked (the variables the binariness penalty reads)."""
        L = self.layout
        return np.r_[z[L.slices["x"]], z[L.slices["r"]]]

    # ---- condensations (signomial constraints and the binariness penalty) ----
    def condensation(self, z: np.ndarray) -> dict[str, np.ndarray | float]:
        """AM-GM monomials of every posynomial that sits on the large side, tight at z."""
        L = self.layout
        ze, zv = z[L.slices["e"]], z[L.slices["v"]]
        w1, k1 = condense(np.log(self.rho) + ze)
        inv_d = 1.0 / self.num_samples
        v = np.exp(zv)
        a2 = v / (v + inv_d)
        b2 = 1.0 - a2
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -(a2 * np.log(a2) + np.where(b2 > 0, b2 * np.log(b2), 0.0))
        out: dict[str, np.ndarray | float] = {
            "w_steps": w1,
            "k_steps": float(k1 + w1 @ np.log(self.rho)),
            "a_var": a2,
            "k_var": b2 * np.log(inv_d) + ent,
        }
        if not self.fixed:
            w5, k5 = condense_groups(self.ratio[1], z)  # denominators of the x^-weighted link sums
            out.update(w_ratio=w5, k_ratio=k5)
            w3, k3 = self.ccr.condensation(z)  # reverse sides of the CCR equalities
            w4, k4 = condense(2.0 * self._binary_logs(z))
            out.update(w_reverse=w3, k_reverse=k3, w_square=w4, k_square=k4)
        return out

    # ---- exact numpy evaluation (never the condensed forms) ----
    def merit(self, z: np.ndarray) -> float:
        """True objective of the signomial program at z (penalty evaluated exactly)."""
        value = float(self.objective.group_sums(z).sum())
        if not self.fixed and self.penalty > 0:
            value += self.penalty * self.penalty_numerator / np.exp(2 * self._binary_logs(z)).sum()
        return value

    def violation(self, z: np.ndarray) -> float:
        """Largest relative violation of any original constraint at z (0 when feasible)."""
        L = self.layout
        worst = [
            float(np.max(self.posy.group_sums(z) - 1.0, initial=0.0)),
            float(np.max(np.expm1(self.linear.log_terms(z)), initial=0.0)),
            float(np.max(np.r_[self.lower - z, z - self.upper], initial=0.0)),
        ]
        steps = np.exp(z[L.slices["e"]])
        worst.append(np.exp(z[L.slices["s"]][0]) / (self.rho @ steps) - 1.0)
        need = 1.0 / np.exp(z[L.slices["B"]]) - 1.0 / self.num_samples
        worst.append(float(np.max(need * np.exp(z[L.slices["B"]]) - np.exp(z[L.slices["v"]] + z[L.slices["B"]]))))
        if not self.fixed:  # the CCR's posynomial and monomial rows are in posy/linear; add its reverse sides
            worst.append(float(np.max(1.0 - self.ccr.reverse.group_sums(z), initial=0.0)))
            num, den = self.ratio
            worst.append(float(np.max(num.group_sums(z) / den.group_sums(z) - 1.0, initial=0.0)))
        return max(0.0, max(worst))

    def decode(self, z: np.ndarray) -> tuple[np.ndarray | None, Resources]:
        """Arc values x (None when fixed) and SI resources at z."""
        L = self.layout
        x = None if self.fixed else np.exp(z[L.slices["x"]])
        res = Resources(
            cpu_hz=np.exp(z[L.slices["f"]]) * GHZ,
            tx_power_w=np.exp(z[L.slices["P"]]),
            local_steps=np.exp(z[L.slices["e"]]),
            batch_size=np.exp(z[L.slices["B"]]),
        )
        return x, res



def edge_floor(num_nodes: int) -> float:
    """Smallest arc value (the CCR's eps: x = eps means the arc is unused)."""
    return floor_value(num_nodes)


def build_program(
    problem: SpanningProblem, arcs: Arcs, num_trees: int, *, fixed: bool, penalty: float = 0.05, slack: float = DEFAULT_SLACK
) -> SignomialProgram:
    """Assemble bounds, posynomial/monomial tables and objective for `arcs` (a forest's arcs when fixed).

    When not fixed, the topology rows are `optimization.ccr.build_ccr`'s (exact CCR of rooted spanning
    forests with `num_trees` roots; `slack` is the band of its condensed reverse sides, in (0, 1)).
    """
    n, a = problem.num_nodes, len(arcs.tail)
    per_node = ("f", "P", "e", "B", "tu", "ts", "tr", "td", "au", "ad", "dl", "v")
    if problem.packet_fraction < 1:  # relays forward packet by packet: first-packet times up (tf) and down (tg)
        per_node += ("tf", "tg")
    sizes = {**{k: n for k in per_node}, "lu": a, "ld": a, "T": 1, "s": 1, "u": 1}
    if not fixed:
        sizes = {**topology_layout(n, a), **sizes}
    L = Layout(sizes)
    res = problem.resources
    nodes = np.arange(n)
    lower, upper = np.full(L.size, -FREE), np.full(L.size, FREE)

    def box(name: str, lo, hi) -> None:
        lower[L.slices[name]], upper[L.slices[name]] = np.log(lo), np.log(hi)

    e_lo, e_hi = problem.step_bounds()
    b_lo, b_hi = problem.batch_limits()
    box("f", res.min_cpu_hz / GHZ, res.max_cpu_hz / GHZ)
    box("P", res.min_tx_power_w, res.max_tx_power_w)
    box("e", e_lo, e_hi)
    box("B", b_lo, b_hi)
    box("u", np.exp(-FREE), e_hi)
    ccr = None
    if not fixed:
        ccr = build_ccr(L, n, arcs.tail, arcs.head, num_trees, res.terminals, problem.root_eligible, slack)
        topo = ccr.box_indices()
        lower[topo], upper[topo] = ccr.lower[topo], ccr.upper_box[topo]
    decision = np.concatenate([L.index(k) for k in ("x", "r", "f", "P", "e", "B") if k in L])

    delay = problem.delay_s[arcs.edge]
    gcycles = res.cycles_per_sample / GHZ
    kappa = 0.5 * res.capacitance * GHZ**3
    static = res.static_power_w * gcycles  # J per (step x sample) per GHz^-1: P_static e B c / f
    acq = problem.acquisition_s[arcs.edge]
    senders = np.flatnonzero(np.bincount(arcs.tail, minlength=n) > 0)  # nodes that may have a parent

    posy = TableBuilder(L)

    ratio = _link_rows(posy, L, arcs, n, senders, delay, None if ccr is None else ccr.eps)
    if "tf" in L:
        _packet_rows(posy, L, arcs, n, senders, delay, problem.packet_fraction)
    _budget_rows(posy, problem, arcs, senders, fixed, kappa * gcycles, static)

    lin = _timing_rows(L, problem, arcs, gcycles, acq)

    mixing = (0.0, 0.0)
    if fixed and num_trees > 1:  # the roots are known: the root-to-root exchange is a constant share per round
        mix_t, mix_e = mixing_costs(problem, np.setdiff1d(nodes, arcs.tail))
        mixing = (mix_t / problem.learning.mix_every, mix_e / problem.learning.mix_every)
    if problem.deadline_s is not None and problem.deadline_s > mixing[0]:
        lin.add(-np.log(problem.deadline_s - mixing[0]), np.zeros(1, int), ("T", None, 1.0))  # T + mix <= deadline
    obj = _objective_table(problem, L, arcs, senders, num_trees, kappa * gcycles, mixing, static, acq)
    k_pen = penalty * (problem.weights.loss + problem.weights.energy + problem.weights.latency)
    posy_table, lin_table = posy.build(), lin.build()
    if ccr is not None:  # the CCR's rows, unchanged, first
        posy_table, lin_table = stack(ccr.upper, posy_table), stack(ccr.monomial, lin_table)
    return SignomialProgram(
        problem, arcs, num_trees, fixed, L, lower, upper, decision,
        posy_table, lin_table, obj, data_shares(res.num_samples), res.num_samples.astype(float), k_pen, ccr, ratio,
        mixing,
    )


def _groups(posy: TableBuilder, n: int, nodes: np.ndarray) -> np.ndarray:
    """Fresh group ids indexed by node (-1 where a node gets none)."""
    gid = np.full(n, -1)
    gid[nodes] = posy.new_groups(len(nodes))
    return gid


def _budget_rows(posy: TableBuilder, problem: SpanningProblem, arcs: Arcs, senders: np.ndarray, fixed: bool,
                 kappa_gc: np.ndarray, static: np.ndarray) -> None:
    """Each budgeted satellite's round energy (compute, static, its uplink's transmit and terminals, its children's
    downlinks, acquisition) <= its energy budget: one posynomial row per budgeted satellite (units J)."""
    res, n, tail, head = problem.resources, problem.num_nodes, arcs.tail, arcs.head
    bits, rmax = problem.model_bits / MBIT, problem.max_rate_bps / MBIT
    rpw = problem.rate_per_watt[arcs.edge] / MBIT
    over = terminal_overhead_w(problem.terminal_power_w)  # both terminals for the air time
    acq = problem.acquisition_s[arcs.edge]
    acquired, heated = np.flatnonzero(acq > 0), np.flatnonzero(static > 0)
    budgeted = np.flatnonzero(np.isfinite(res.energy_budget_j))
    if len(budgeted):
        gid = _groups(posy, n, budgeted)
        budget = np.where(np.isfinite(res.energy_budget_j), res.energy_budget_j, 1.0)
        if not fixed:
            # Unused arcs sit at the floor x = eps and still carry eps * P * airtime in the relaxation; allow
            # that much (an upper bound of it) so the integral warm start stays feasible. Plans are checked
            # against the true budgets after rounding.
            worst = [edge_floor(n) * np.maximum(bits / rpw, res.max_tx_power_w[end] * bits / rmax) for end in (tail, head)]
            if over > 0:  # the terminals' share of unused arcs, and their acquisition
                air = np.maximum(bits / (rpw * res.min_tx_power_w[head]), bits / rmax)
                worst[1] = worst[1] + edge_floor(n) * over * air
                worst[0] = worst[0] + edge_floor(n) * over * acq
            budget = budget + np.bincount(np.r_[tail, head], weights=np.r_[worst[0], worst[1]], minlength=n)
        log_budget = np.log(budget)
        posy.add(np.log(kappa_gc)[budgeted] - log_budget[budgeted], gid[budgeted],
                 ("e", budgeted, 1.0), ("B", budgeted, 1.0), ("f", budgeted, 2.0))
        sel = budgeted[np.isin(budgeted, senders)]
        posy.add(-log_budget[sel], gid[sel], ("P", sel, 1.0), ("au", sel, 1.0))
        if over > 0:
            posy.add(np.log(over) - log_budget[sel], gid[sel], ("au", sel, 1.0))
        hot = budgeted[np.isin(budgeted, heated)]
        posy.add(np.log(static[hot]) - log_budget[hot], gid[hot], ("e", hot, 1.0), ("B", hot, 1.0), ("f", hot, -1.0))
        sel = np.flatnonzero(gid[head] >= 0)
        posy.add(-log_budget[head[sel]], gid[head[sel]], ("x", sel, 1.0), ("P", head[sel], 1.0), ("ld", sel, 1.0))
        if over > 0:
            posy.add(np.log(over) - log_budget[head[sel]], gid[head[sel]], ("x", sel, 1.0), ("ld", sel, 1.0))
            sel = acquired[gid[tail[acquired]] >= 0]
            posy.add(np.log(over * acq[sel]) - log_budget[tail[sel]], gid[tail[sel]], ("x", sel, 1.0))


def _link_rows(posy: TableBuilder, L: Layout, arcs: Arcs, n: int, senders: np.ndarray, delay: np.ndarray,
               eps: float | None) -> tuple[Table, Table] | None:
    """The posynomial rows of each satellite's own parent link (air times au/ad and delay dl, summed over its
    out-arcs; a fixed forest when ``eps`` is None, else the CCR's weighted sums) and of sending and receiving:
    ts >= tu + au + dl and td >= tr + ad + dl (units s). Returns the link-sum tables of a free topology."""
    tail = arcs.tail
    arc_ids = np.arange(len(tail))
    X = ("x", arc_ids, 1.0)
    has_delay = np.flatnonzero(delay > 0)
    delayed = np.unique(tail[has_delay])
    # A node's own parent link, summed over its out-arcs: at an integral point each sum is the one chosen
    # arc's value. Summing per node costs one cone per arc instead of one per arc and recursion.
    ratio = None
    if eps is None:  # a fixed forest
        gid = _groups(posy, n, senders)
        posy.add(0.0, gid[tail], X, ("lu", arc_ids, 1.0), ("au", tail, -1.0))  # uplink air time au
        gid = _groups(posy, n, senders)
        posy.add(0.0, gid[tail], X, ("ld", arc_ids, 1.0), ("ad", tail, -1.0))  # downlink air time ad
        gid = _groups(posy, n, delayed)
        posy.add(np.log(delay[has_delay]), gid[tail[has_delay]], ("x", has_delay, 1.0), ("dl", tail[has_delay], -1.0))
    else:
        ratio = _link_sums(L, n, tail, senders, delay, eps)
    gid = _groups(posy, n, senders)  # sent: ts >= tu + au + dl
    posy.add(0.0, gid[senders], ("tu", senders, 1.0), ("ts", senders, -1.0))
    posy.add(0.0, gid[senders], ("au", senders, 1.0), ("ts", senders, -1.0))
    posy.add(0.0, gid[delayed], ("dl", delayed, 1.0), ("ts", delayed, -1.0))
    gid = _groups(posy, n, senders)  # received the new model: td >= tr + ad + dl
    posy.add(0.0, gid[senders], ("tr", senders, 1.0), ("td", senders, -1.0))
    posy.add(0.0, gid[senders], ("ad", senders, 1.0), ("td", senders, -1.0))
    posy.add(0.0, gid[delayed], ("dl", delayed, 1.0), ("td", delayed, -1.0))
    return ratio


def _packet_rows(posy: TableBuilder, L: Layout, arcs: Arcs, n: int, senders: np.ndarray, delay: np.ndarray,
                 share: float) -> None:
    """Relays forwarding packets of ``share`` of the model (``walk_forest``'s cut-through recursion, units s): the
    first packet arrives at tf >= tu + share au + dl (up) and tg >= tr + share ad + dl (down), and the last leaves
    no earlier than the last packet of what it relays has arrived plus one packet: ts_n >= x ts_c + share au_n +
    dl_n for each child c of n, td_c >= x td_n + share ad_c + dl_c for each parent n of c."""
    tail, head = arcs.tail, arcs.head
    arc_ids = np.arange(len(tail))
    X = ("x", arc_ids, 1.0)
    delayed = np.unique(tail[delay > 0])
    log_share = np.log(share)
    for start, air, first in (("tu", "au", "tf"), ("tr", "ad", "tg")):
        gid = _groups(posy, n, senders)
        posy.add(0.0, gid[senders], (start, senders, 1.0), (first, senders, -1.0))
        posy.add(log_share, gid[senders], (air, senders, 1.0), (first, senders, -1.0))
        posy.add(0.0, gid[delayed], ("dl", delayed, 1.0), (first, delayed, -1.0))
    relayed = np.flatnonzero(np.isin(head, senders))  # up: a relay that itself has a parent link
    gid = np.full(len(tail), -1)
    gid[relayed] = posy.new_groups(len(relayed))
    up = head[relayed]
    posy.add(0.0, gid[relayed], ("x", relayed, 1.0), ("ts", tail[relayed], 1.0), ("ts", up, -1.0))
    posy.add(log_share, gid[relayed], ("au", up, 1.0), ("ts", up, -1.0))
    sel = relayed[np.isin(up, delayed)]
    posy.add(0.0, gid[sel], ("dl", head[sel], 1.0), ("ts", head[sel], -1.0))
    gid = posy.new_groups(len(tail))  # down: every arc's tail has its parent link
    posy.add(0.0, gid, X, ("td", head, 1.0), ("td", tail, -1.0))
    posy.add(log_share, gid, ("ad", tail, 1.0), ("td", tail, -1.0))
    sel = np.flatnonzero(np.isin(tail, delayed))
    posy.add(0.0, gid[sel], ("dl", tail[sel], 1.0), ("td", tail[sel], -1.0))


def _timing_rows(L: Layout, problem: SpanningProblem, arcs: Arcs, gcycles: np.ndarray, acq: np.ndarray
                 ) -> TableBuilder:
    """The monomial rows of the round's timing (each ``<= 1``, affine ``<= 0`` in log space): compute time,
    a parent waiting for every child, acquisition beside training, the way down, the round latency T, u >= e, and
    every air time >= bits / min(rate_per_watt P, R_max) (units s, Mbit, GHz)."""
    n, tail, head = problem.num_nodes, arcs.tail, arcs.head
    nodes, arc_ids = np.arange(n), np.arange(len(tail))
    X = ("x", arc_ids, 1.0)
    bits, rmax = problem.model_bits / MBIT, problem.max_rate_bps / MBIT
    rpw = problem.rate_per_watt[arcs.edge] / MBIT
    acquired = np.flatnonzero(acq > 0)
    lin = TableBuilder(L)
    # Store and forward: a parent sends once every child's whole message has arrived (ts), a child receives once its
    # parent holds the whole model (td). Packet by packet: once the first packets have (tf up, tg down).
    first_up, first_down = ("tf", "tg") if "tf" in L else ("ts", "td")
    lin.add(np.log(gcycles), nodes, ("e", nodes, 1.0), ("B", nodes, 1.0), ("f", nodes, -1.0), ("tu", nodes, -1.0))
    lin.add(0.0, arc_ids, X, (first_up, tail, 1.0), ("tu", head, -1.0))  # a parent waits for every child
    if len(acquired):  # a child sends once its uplink is acquired (acquisition runs beside training)
        lin.add(np.log(acq[acquired]), acquired, ("x", acquired, 1.0), ("tu", tail[acquired], -1.0))
    lin.add(0.0, arc_ids, X, (first_down, head, 1.0), ("tr", tail, -1.0))  # a child waits for its parent
    lin.add(0.0, nodes, ("tu", nodes, 1.0), ("td", nodes, -1.0))
    if "tg" in L:  # the new model's first packet exists once the sum is complete: every child's last packet is in
        lin.add(0.0, nodes, ("tu", nodes, 1.0), ("tg", nodes, -1.0))
        lin.add(0.0, arc_ids, X, ("ts", tail, 1.0), ("tg", head, -1.0))
        lin.add(0.0, nodes, ("tg", nodes, 1.0), ("td", nodes, -1.0))
    lin.add(0.0, nodes, ("td", nodes, 1.0), ("T", None, -1.0))
    lin.add(0.0, nodes, ("e", nodes, 1.0), ("u", None, -1.0))
    for block, sender in (("lu", tail), ("ld", head)):  # air time >= S / min(rpw P, Rmax)
        lin.add(np.log(bits / rpw), arc_ids, ("P", sender, -1.0), (block, arc_ids, -1.0))
        lin.add(np.log(bits / rmax), arc_ids, (block, arc_ids, -1.0))
    return lin



def _link_sums(L: Layout, n: int, tail: np.ndarray, senders: np.ndarray, delay: np.ndarray, eps: float) -> tuple[Table, Table]:
    """A satellite's own parent link weighted by x^ = (x - eps) / (1 - eps), so that unused arcs (x = eps)
    add nothing: au >= sum_out x^ lu, ad >= sum_out x^ ld, dl >= sum_out x^ delay, each written as
    sum_out x lu <= (1 - eps) au + eps sum_out lu (a posynomial on both sides; the right one is condensed).
    At an integral point au, ad, dl are then exactly the chosen link's times, as in `evaluate`."""
    a = len(tail)
    arc_ids = np.arange(a)
    num, den = TableBuilder(L), TableBuilder(L)
    for block, node_block in (("lu", "au"), ("ld", "ad")):
        gid = np.full(n, -1)
        gid[senders] = num.new_groups(len(senders))
        den.new_groups(len(senders))
        num.add(0.0, gid[tail], ("x", arc_ids, 1.0), (block, arc_ids, 1.0))
        den.add(np.log(1 - eps), gid[senders], (node_block, senders, 1.0))
        den.add(np.log(eps), gid[tail], (block, arc_ids, 1.0))
    has_delay = np.flatnonzero(delay > 0)
    delayed = np.unique(tail[has_delay])
    gid = np.full(n, -1)
    gid[delayed] = num.new_groups(len(delayed))
    den.new_groups(len(delayed))
    num.add(np.log(delay[has_delay]), gid[tail[has_delay]], ("x", has_delay, 1.0))
    den.add(np.log(1 - eps), gid[delayed], ("dl", delayed, 1.0))
    den.add(np.log(eps * np.bincount(tail, weights=delay, minlength=n)[delayed]), gid[delayed])
    return num.build(), den.build()


def _objective_table(
    problem: SpanningProblem, L: Layout, arcs: Arcs, senders: np.ndarray, num_trees: int, energy_coef: np.ndarray,
    mixing: tuple[float, float] = (0.0, 0.0), static: np.ndarray | None = None, acq: np.ndarray | None = None,
) -> Table:
    """w_loss * bound / scale + w_energy * energy / scale + w_latency * T / scale as one posynomial.

    `mixing` = (latency, energy) of the root-to-root exchange per round, constants of a fixed forest (as in
    `evaluate`); the topology program leaves them out (they depend on which satellites are roots).
    """
    mix_t, mix_e = mixing
    n, a = problem.num_nodes, len(arcs.tail)
    lc, w = problem.learning, problem.weights
    sb, se, st = objective_scales(problem)
    rho = data_shares(problem.resources.num_samples)
    eta, beta = lc.learning_rate, lc.smoothness
    drift = np.broadcast_to(np.asarray(lc.drift_per_s, float), (n,))
    sigma2 = np.broadcast_to(np.asarray(lc.grad_variance, float), (n,))
    nodes, arc_ids, one = np.arange(n), np.arange(a), np.zeros(1, int)
    obj = TableBuilder(L)
    if w.loss > 0:
        lw = np.log(w.loss / sb)
        obj.add(lw + np.log(C_GAP * lc.initial_gap / (eta * lc.rounds)), one, ("s", None, -1.0))
        drift_coef = np.log(C_DRIFT * float(rho @ drift) / eta)
        if problem.deadline_s is not None:  # on a cadence the data drifts for the whole interval (T fits it)
            obj.add(lw + drift_coef + np.log(problem.deadline_s + problem.min_idle_s), one, ("s", None, -1.0))
        else:
            obj.add(lw + drift_coef, one, ("T", None, 1.0), ("s", None, -1.0))
            if problem.min_idle_s + mix_t > 0:  # drift over idle time and the exchange's latency
                obj.add(lw + drift_coef + np.log(problem.min_idle_s + mix_t), one, ("s", None, -1.0))
        noisy = np.flatnonzero(sigma2 > 0)
        obj.add(lw + np.log(C_NOISE * eta * beta * rho[noisy] * sigma2[noisy]), np.zeros(len(noisy), int), ("v", noisy, 1.0))
        zeta = cluster_dissimilarity(lc, num_trees)
        if zeta > 0:
            obj.add(lw + np.log(C_DRIFT_LOCAL * (eta * beta) ** 2 * zeta), one, ("u", None, 2.0))
    if w.energy > 0:
        lw = np.log(w.energy / se)
        obj.add(lw + np.log(energy_coef), np.zeros(n, int), ("e", nodes, 1.0), ("B", nodes, 1.0), ("f", nodes, 2.0))
        obj.add(lw, np.zeros(len(senders), int), ("P", senders, 1.0), ("au", senders, 1.0))
        obj.add(lw, np.zeros(a, int), ("x", arc_ids, 1.0), ("P", arcs.head, 1.0), ("ld", arc_ids, 1.0))
        heated = np.flatnonzero(static > 0) if static is not None else np.zeros(0, int)
        if len(heated):  # static power while training: P_static e B c / f
            obj.add(lw + np.log(static[heated]), np.zeros(len(heated), int), ("e", heated, 1.0), ("B", heated, 1.0),
                    ("f", heated, -1.0))
        over = terminal_overhead_w(problem.terminal_power_w)
        if over > 0:  # terminal electronics for the air time, and while acquiring new links
            obj.add(lw + np.log(over), np.zeros(len(senders), int), ("au", senders, 1.0))
            obj.add(lw + np.log(over), np.zeros(a, int), ("x", arc_ids, 1.0), ("ld", arc_ids, 1.0))
            acquired = np.flatnonzero(acq > 0) if acq is not None else np.zeros(0, int)
            if len(acquired):
                obj.add(lw + np.log(over * acq[acquired]), np.zeros(len(acquired), int), ("x", acquired, 1.0))
        if mix_e > 0:
            obj.add(lw + np.log(mix_e), one)
    if w.latency > 0 and problem.deadline_s is None:  # on a cadence latency is free up to the deadline
        obj.add(np.log(w.latency / st), one, ("T", None, 1.0))
        if mix_t > 0:
            obj.add(np.log(w.latency / st * mix_t), one)
    return obj.build()


def _longest_fixed_point(base: np.ndarray, src: np.ndarray, dst: np.ndarray, gain: np.ndarray, add: np.ndarray) -> np.ndarray:
    """Least t with t >= base and t[dst] >= gain * t[src] + add on every arc (gains <= 1, no unit-gain cycle).

    At a fractional point the cycles' gains are below 1 and the iteration converges geometrically, so it
    may take more than N rounds.
    """
    t = base.copy()
    for _ in range(200 * (len(base) + 1)):
        new = t.copy()
        np.maximum.at(new, dst, gain * t[src] + add)
        if np.allclose(new, t, rtol=1e-14, atol=0):
            return new
        t = new
    return t
