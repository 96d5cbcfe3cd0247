"""The CCR (continuous constraint representation) of rooted spanning forests with K roots, as the solver uses it.

This module is the single definition of the topology constraints of the signomial program:
`optimization.formulation.build_program` calls `build_ccr` and puts its tables, unchanged, into the
program that the SCA solves; `TopologyCCR.violation` checks a point against exactly those rows.

Variables (positive, stored as logs like every other variable of the program)
  x_a  arc indicator, arc a = (tail n -> parent m), in [eps, 1]
  r_n  root indicator, in [eps, 1]; pinned to eps where `root_eligible` is False
  o_n  auxiliary: o_n >= sum of n's out-arcs (its best value is that sum)
  D_n  depth label, D_n = exp(step * l_n) with l_n in [0, N - 1] (log D in [0, (N - 1) step])
A floor eps = `floor_value(N)` > 0 is needed because log 0 does not exist. Write
x^ = (x - eps) / (1 - eps) and r^ likewise: x = eps means "arc unused" (x^ = 0), x = 1 "arc used" (x^ = 1).

**Integral point.** A point whose x and r all lie in {eps, 1} (x^, r^ in {0, 1}). Claim, tested by brute
force over every such point of small graphs (tests/test_opt_ccr.py): an integral point extends to a point
that satisfies every row below (with o and the labels at their best values) if and only if its used arcs
and roots form a rooted spanning forest of the candidate arcs with exactly K roots, every root eligible
and every tree degree <= terminals.

Rows (each written in x^, r^; all are affine in x^, r^, hence exact at integral points):
  one parent per non-root  sum_out x^ + r^ = 1, as  (a) o_n + r_n <= 1 + eps * outdeg_n with o_n >= sum_out x
                            (posynomials) and (b) sum_out x^ + r^ >= 1 - slack (the reverse side, condensed)
  K roots                  sum r^ = K, as  (c) sum r^ <= K (posynomial) and (d) sum r^ >= K - slack (condensed)
  degree                   (e) sum_in x^ + sum_out x^ <= M_n (posynomial in x and o; only where the
                            candidate degree exceeds M_n; elsewhere acyclicity already bounds it)
  no cycles                (f) MTZ depth labels: l_n >= l_m + 1 - B (1 - x~_a) for arc n -> m, with the
                            log-scaled indicator x~ = 1 + log(x) / (-log eps) (in {0, 1} at integral
                            points) and big-M B = -log(eps) / step >= N. In the program's variables:
                            x_a * exp(step) * D_m / D_n <= 1, one monomial per arc (an affine row in log
                            space: no cone, no condensation), step = min(-log(eps) / N, 1/2).
Why these choices
  * Equalities. A signomial equality p(x) = 1 written as p <= 1 plus the AM-GM condensation of p >= 1
    pins the iterate: AM-GM is tight only where the terms are proportional to the condensation
    weights, so p <= 1 and (monomial <= p) >= 1 leave exactly the current point and the SCA can never
    move the topology. The reverse side is therefore required up to `slack` < 1 instead: integral
    points take the values sum x^ + r^ in {0, 1, 2, ...} and sum r^ in {0, ..., N}, so ">= 1 - slack"
    and "<= 1" admit exactly 1, and ">= K - slack" with "<= K" exactly K. Fractional points get a
    band of width `slack` (in x^ units) to move in; the SCA iterates stay feasible for these rows.
  * Acyclicity. The single-commodity flow needs a conservation equality per node (a second set of
    signomial equalities, each with its own band) and cones for g <= (N - K) x^. The depth labels in
    log space are one affine row per arc. At an unused arc (x = eps) the row reads l_n >= l_m + 1 - B,
    implied by l in [0, N - 1] since B >= N; at a used arc l_n >= l_m + 1, so a directed cycle of used
    arcs has no labels, and a forest takes l = depth.
    Between integral points the row cuts every cycle whose arc values multiply to more than
    exp(-step * length): the largest step allowed is the strongest relaxation (at 66 satellites no cycle
    survives with all its arcs above 0.93). The cap 1/2 keeps cycles of arcs split evenly between two
    parents (x^ = 1/2) feasible, so a fractional start exists on small graphs too. Like every MTZ
    system the relaxation is weak in between: it only cuts near-integral cycles.
  * Floors elsewhere. The program weights a satellite's parent-link sums (air times, delay) by x^, so
    unused arcs add nothing to them; the remaining floor terms (eps-weighted waits x ts <= tu, the
    unused downlinks' energy) put the program's value at a forest's integral point within 0.1 % of the
    forest's true cost (+0.05 % on the 66-satellite knn-8 shell with every arc, no penalty).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.posynomials import Layout, Table, TableBuilder, condense_groups

#: Default band of the reverse (condensed) sides of the two equalities, in x^ units; any value in (0, 1)
#: keeps the integral points exact.
DEFAULT_SLACK = 0.5
TOPOLOGY_BLOCKS = ("x", "r", "o", "d")
FREE = 15.0  # |log| bound on the auxiliary o (same as the program's other auxiliaries)


def floor_value(num_nodes: int) -> float:
    """eps, the value of an unused arc / a non-root's r (x = eps means x^ = 0)."""
    return min(1e-2, 0.5 / (num_nodes + 1))


def depth_step(num_nodes: int) -> float:
    """log-depth increment per tree level: N * step <= -log eps, so unused arcs never bind; at most 1/2."""
    return min(-np.log(floor_value(num_nodes)) / max(num_nodes, 1), 0.5)


@dataclass
class TopologyCCR:
    """The CCR rows on the program's layout: posynomials <= 1, monomials <= 1, and reverse groups >= 1."""

    layout: Layout
    num_nodes: int
    num_trees: int
    tail: np.ndarray
    head: np.ndarray
    eps: float
    step: float
    slack: float
    #: posynomial groups <= 1: (a) o >= sum_out x and o + r <= C, (c) sum r <= K, (e) degree
    upper: Table
    #: one-term rows <= 1 (affine in log space): (f) the depth labels
    monomial: Table
    #: groups whose sum must be >= 1 (terms pre-divided by the bound): (b) and (d); condensed by the SCA
    reverse: Table
    lower: np.ndarray  # log boxes of the topology blocks, indexed like layout (other entries unused)
    upper_box: np.ndarray

    # ---- evaluation of exactly these rows ----
    def box_indices(self) -> np.ndarray:
        """Positions in z of the topology blocks."""
        return np.concatenate([self.layout.index(b) for b in TOPOLOGY_BLOCKS])

    def violation(self, z: np.ndarray) -> float:
        """Largest relative violation of any CCR row or topology box at z (0 when feasible)."""
        return float(self.violations(np.asarray(z)[None, :])[0])

    def violations(self, zs: np.ndarray) -> np.ndarray:
        """`violation` for every row of `zs` (a batch of points)."""
        zs = np.atleast_2d(zs)
        idx = self.box_indices()
        worst = [
            (self.upper.group_sums_many(zs) - 1.0).max(axis=1, initial=0.0),
            np.expm1(self.monomial.coef + np.asarray(self.monomial.matrix @ zs.T).T).max(axis=1, initial=0.0),
            (1.0 - self.reverse.group_sums_many(zs)).max(axis=1, initial=0.0),
            np.maximum(self.lower[idx] - zs[:, idx], zs[:, idx] - self.upper_box[idx]).max(axis=1, initial=0.0),
        ]
        return np.maximum(np.max(worst, axis=0), 0.0)

    def condensation(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AM-GM weights per reverse term and constants per reverse group at z (tight at z)."""
        return condense_groups(self.reverse, z)

    # ---- integral points ----
    def labels(self, zx: np.ndarray) -> np.ndarray:
        """Least log-depth labels for arc values exp(zx) (rows of a batch, or one point): the best values.

        Iterates l_tail = max(l_tail, l_head + step + log x) from 0; if any labels exist the iteration stays
        below them, so exceeding the box (returned as is, so `violation` sees it) proves that none exist.
        """
        order = np.argsort(self.tail, kind="stable")  # scatter-max by tail as a segmented reduction
        tail, head = self.tail[order], self.head[order]
        starts = np.flatnonzero(np.r_[True, tail[1:] != tail[:-1]])
        weight = (np.atleast_2d(zx)[:, order] + self.step).T  # (A, M)
        d = np.zeros((self.num_nodes, weight.shape[1]))
        cap = self.upper_box[self.layout.slices["d"]]
        for _ in range(self.num_nodes + 1):  # a longest path has at most N - 1 arcs
            new = d.copy()
            if len(tail):
                best = np.maximum.reduceat(d[head] + weight, starts, axis=0)
                new[tail[starts]] = np.maximum(new[tail[starts]], best)
            done = np.array_equal(new, d)
            d = new
            if done or (d > cap[:, None] + self.step).any(axis=0).all():
                break
        return d.T



def build_ccr(
    layout: Layout,
    num_nodes: int,
    tail: np.ndarray,
    head: np.ndarray,
    num_trees: int,
    terminals: np.ndarray,
    root_eligible: np.ndarray | None = None,
    slack: float = DEFAULT_SLACK,
) -> TopologyCCR:
    """The CCR rows and boxes for arcs (tail -> head) on `layout` (which must hold blocks x, r, o, d).

    The continuous constraint representation of rooted spanning forests follows the Fed-Span paper [1]_;
    its acyclicity rows are the depth labels of Miller, Tucker and Zemlin [2]_ written as one monomial per
    arc in log space, in place of the single-commodity flow formulation of spanning trees [3]_ (the module
    docstring says why).

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations,
       arXiv:2509.24932, 2025.
    .. [2] C. E. Miller, A. W. Tucker and R. A. Zemlin, "Integer programming formulation of traveling
       salesman problems", Journal of the ACM 7(4), 326-329, 1960.
    .. [3] T. L. Magnanti and L. A. Wolsey, "Optimal trees", in Handbooks in Operations Research and
       Management Science 7 (Network Models), 503-615, 1995.
    """
    if not 0.0 < slack < 1.0:
        raise ValueError(f"slack must lie in (0, 1) for the CCR to be exact, got {slack}")
    n, a, k = num_nodes, len(tail), int(num_trees)
    eps, step = floor_value(n), depth_step(n)
    le = np.log(eps)
    L = layout
    tail, head = np.asarray(tail, np.int64), np.asarray(head, np.int64)
    nodes, arc_ids = np.arange(n), np.arange(a)
    outdeg = np.bincount(tail, minlength=n)
    senders = np.flatnonzero(outdeg > 0)
    cap_one = 1.0 + eps * outdeg  # sum_out x + r at a one-hot integral point
    lower, upper_box = np.zeros(L.size), np.zeros(L.size)

    def box(name: str, lo, hi) -> None:
        lower[L.slices[name]], upper_box[L.slices[name]] = lo, hi

    eligible = np.ones(n, bool) if root_eligible is None else np.asarray(root_eligible, bool)
    box("x", le, 0.0)
    box("r", le, np.where(eligible, 0.0, le))
    box("o", -FREE, np.log(cap_one))
    box("d", 0.0, (n - 1) * step)

    up = TableBuilder(L)
    gid = np.full(n, -1)
    gid[senders] = up.new_groups(len(senders))
    up.add(0.0, gid[tail], ("x", arc_ids, 1.0), ("o", tail, -1.0))  # (a) sum_out x <= o
    gid[senders] = up.new_groups(len(senders))
    up.add(-np.log(cap_one[senders]), gid[senders], ("o", senders, 1.0))  # (a) o + r <= 1 + eps outdeg
    up.add(-np.log(cap_one[senders]), gid[senders], ("r", senders, 1.0))
    g = up.new_groups(1)  # (c) sum r^ <= K
    up.add(-np.log(k * (1 - eps) + n * eps), np.full(n, g[0]), ("r", nodes, 1.0))
    cand_deg = np.bincount(np.r_[tail, head], minlength=n) // 2
    tight = np.flatnonzero(cand_deg > terminals)
    if len(tight):  # (e) sum_in x^ + sum_out x^ <= M: in x, sum_in x + o <= M (1 - eps) + eps (in + out arcs)
        gid = np.full(n, -1)
        gid[tight] = up.new_groups(len(tight))
        cap = np.log(np.asarray(terminals, float) * (1 - eps) + eps * 2 * cand_deg)
        sel = np.flatnonzero(gid[head] >= 0)
        up.add(-cap[head[sel]], gid[head[sel]], ("x", sel, 1.0))
        up.add(-cap[tight], gid[tight], ("o", tight, 1.0))

    mono = TableBuilder(L)  # (f) x_a exp(step) D_head / D_tail <= 1
    mono.add(step, arc_ids, ("x", arc_ids, 1.0), ("d", head, 1.0), ("d", tail, -1.0))

    rev = TableBuilder(L)  # terms divided by the bound: sum >= 1
    low_one = np.log((1 - slack) * (1 - eps) + eps * (outdeg + 1))  # (b) sum_out x^ + r^ >= 1 - slack
    rev.add(-low_one[tail], tail, ("x", arc_ids, 1.0))
    rev.add(-low_one, nodes, ("r", nodes, 1.0))
    rev.add(-np.log((k - slack) * (1 - eps) + n * eps), np.full(n, n), ("r", nodes, 1.0))  # (d) sum r^ >= K - slack
    return TopologyCCR(L, n, k, tail, head, eps, step, slack, up.build(), mono.build(), rev.build(), lower, upper_box)


def topology_layout(num_nodes: int, num_arcs: int) -> dict[str, int]:
    """Block sizes of the topology variables (the program puts these first)."""
    return {"x": num_arcs, "r": num_nodes, "o": num_nodes, "d": num_nodes}
