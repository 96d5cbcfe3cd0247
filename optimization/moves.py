"""The re-parent neighbourhood of the topology search, screened in one pass.

A **re-parent** move hangs a satellite with its whole subtree onto another candidate neighbour outside the subtree
with a free terminal. Every directed candidate arc is screened at once by a first-order estimate (the marginal value
of slack of each satellite times the change of its path times, summed over subtrees with an Euler tour); the best
few are valued exactly by :mod:`optimization.search`. Small instances enumerate every move (and every pair of moves).

References: subtree re-attachment is the classical neighbourhood of degree-constrained minimum spanning tree local
search (Ribeiro & Souza 2002); the Euler-tour subtree test is that of Tarjan & Vishkin (1985).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import depth_first_order

from optimization.forests import forest_depths, reroot, tree_degrees
from optimization.problem import SpanningProblem
from optimization.resources import Valuation, forest_times


class _Tour:
    """Euler-tour bookkeeping of a forest: preorder positions, subtree ranges and subtree sums."""

    def __init__(self, parent: np.ndarray) -> None:
        n = len(parent)
        kids = np.flatnonzero(parent >= 0)
        roots = np.flatnonzero(parent < 0)
        rows = np.r_[parent[kids], np.full(len(roots), n)]
        cols = np.r_[kids, roots]
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
        order = depth_first_order(graph, n, directed=True, return_predecessors=False)[1:]
        self.order = order
        self.tin = np.empty(n, np.int64)
        self.tin[order] = np.arange(n)
        size = np.ones(n, np.int64)
        par = parent.tolist()
        sz = size.tolist()
        for v in order[::-1].tolist():
            p = par[v]
            if p >= 0:
                sz[p] += sz[v]
        self.size = np.asarray(sz, np.int64)
        self.tout = self.tin + self.size - 1

    def subtree_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of `values` over every satellite's subtree."""
        c = np.r_[0.0, np.cumsum(values[self.order])]
        return c[self.tout + 1] - c[self.tin]

    def subtree_max(self, values: np.ndarray) -> np.ndarray:
        """Max of `values` over every satellite's subtree (sparse table over the preorder)."""
        seq = values[self.order]
        table = [seq]
        span = 1
        while 2 * span <= len(seq):
            prev = table[-1]
            table.append(np.maximum(prev[:-span], prev[span:]))
            span *= 2
        lo, hi = self.tin, self.tout + 1
        length = hi - lo
        j = np.floor(np.log2(np.maximum(length, 1))).astype(int)
        out = np.empty(len(lo))
        for level in np.unique(j):
            sel = j == level
            tab = table[level]
            out[sel] = np.maximum(tab[lo[sel]], tab[hi[sel] - (1 << level)])
        return out

    def outside_max(self, values: np.ndarray, tree_of: np.ndarray) -> np.ndarray:
        """Max of `values` over each satellite's own tree minus its subtree (-inf when empty)."""
        seq = values[self.order]
        pre = np.maximum.accumulate(seq)
        suf = np.maximum.accumulate(seq[::-1])[::-1]
        # Trees occupy contiguous preorder ranges; restrict prefix/suffix maxima to each tree's range.
        tree_seq = tree_of[self.order]
        starts = np.r_[0, np.flatnonzero(np.diff(tree_seq)) + 1]
        ends = np.r_[starts[1:], len(seq)] - 1
        seg = np.repeat(np.arange(len(starts)), ends - starts + 1)
        pre_local = np.empty_like(seq)
        suf_local = np.empty_like(seq)
        for s, e in zip(starts.tolist(), ends.tolist()):
            pre_local[s:e + 1] = np.maximum.accumulate(seq[s:e + 1])
            suf_local[s:e + 1] = np.maximum.accumulate(seq[s:e + 1][::-1])[::-1]
        del pre, suf
        pos_seg = seg[self.tin]
        before = np.where(self.tin > starts[pos_seg], pre_local[np.maximum(self.tin - 1, 0)], -np.inf)
        after = np.where(self.tout < ends[pos_seg], suf_local[np.minimum(self.tout + 1, len(seq) - 1)], -np.inf)
        return np.maximum(before, after)


def _screen(problem: SpanningProblem, parent: np.ndarray, val: Valuation, arc_tail: np.ndarray, arc_head: np.ndarray,
            arc_time_up: np.ndarray, arc_time_down: np.ndarray) -> tuple[np.ndarray, np.ndarray, _Tour]:
    """First-order objective change of every re-parent move (tail -> head), which moves are legal, the tour."""
    times = forest_times(problem, parent, val.tx_power_w)
    tour = _Tour(parent)
    tree = times.tree
    g = val.slack_value
    g_sub = tour.subtree_sum(g)
    g_tree = np.bincount(tree, weights=g, minlength=problem.num_nodes)
    d_rel_sub = tour.subtree_max(times.down_path_s) - times.down_path_s  # deepest dispatch below v, relative
    d_out = tour.outside_max(times.down_path_s, tree)
    dmax = np.zeros(problem.num_nodes)
    np.maximum.at(dmax, tree, times.down_path_s)
    v, u = arc_tail, arc_head
    deg = tree_degrees(parent)
    legal = (parent[v] >= 0) & (parent[v] != u) & (deg[u] < problem.resources.terminals[u])
    legal &= ~((tour.tin[u] >= tour.tin[v]) & (tour.tin[u] <= tour.tout[v]))
    new_up = times.up_path_s[u] + arc_time_up
    new_down = times.down_path_s[u] + arc_time_down
    same = tree[u] == tree[v]
    tu, tv = tree[u], tree[v]
    rest_u = np.where(same, d_out[v], dmax[tu])
    new_dmax_u = np.maximum(rest_u, new_down + d_rel_sub[v])
    new_dmax_v = np.where(same, new_dmax_u, d_out[v])
    delta_sub = (new_up - times.up_path_s[v]) + (new_dmax_u - dmax[tv])
    est = g_sub[v] * delta_sub
    est += (g_tree[tu] - np.where(same, g_sub[v], 0.0)) * (new_dmax_u - dmax[tu])
    est += np.where(same, 0.0, (g_tree[tv] - g_sub[v]) * (np.maximum(new_dmax_v, 0.0) - dmax[tv]))
    est += val.energy_weight * _power_energy_change(problem, parent, v, u)
    return est, legal, tour


def _compatible(cand: np.ndarray, tails: np.ndarray, heads: np.ndarray, parent: np.ndarray, tour: _Tour,
                limit: int) -> list[int]:
    """Greedy set of moves (in `cand` order) that can all be applied at once without a cycle or a degree clash.

    Moves touch disjoint satellites (mover, old parent, new parent), and no new parent lies inside any
    moved subtree, so every moved subtree hangs from the unmoved part of the forest.
    """
    chosen: list[int] = []
    touched: set[int] = set()
    spans: list[tuple[int, int]] = []
    tin, tout = tour.tin, tour.tout
    for i in cand.tolist():
        v, u = int(tails[i]), int(heads[i])
        p = int(parent[v])
        if v in touched or u in touched or p in touched:
            continue
        tu = int(tin[u])
        if any(lo <= tu <= hi for lo, hi in spans):
            continue
        lo_v, hi_v = int(tin[v]), int(tout[v])
        if any(lo_v <= int(tin[int(heads[j])]) <= hi_v for j in chosen):
            continue
        chosen.append(i)
        touched.update((v, u, p))
        spans.append((lo_v, hi_v))
        if len(chosen) >= limit:
            break
    return chosen


def _power_energy_change(problem: SpanningProblem, parent: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Change of tree-link energy when v moves under u, with every satellite at its knee-rule power (J).

    A satellite's power is the largest knee of its tree links (boxed), paid on each of them at the cap:
    about P S / cap per link. Moving v changes the link sets, hence the powers, of v, its old parent and u.
    """
    n = problem.num_nodes
    res = problem.resources
    kids = np.flatnonzero(parent >= 0)
    uplink = np.full(n, -1)
    from optimization.forests import edge_lookup

    uplink[kids] = edge_lookup(problem, kids, parent[kids])
    knee_of_edge = problem.max_rate_bps / problem.rate_per_watt
    k_up = np.where(parent >= 0, knee_of_edge[np.maximum(uplink, 0)], 0.0)
    # Largest and second-largest knee over each satellite's incident tree links; largest over its child links.
    ends = np.r_[kids, parent[kids]]
    vals = np.r_[k_up[kids], k_up[kids]]
    order = np.lexsort((-vals, ends))
    ends, vals = ends[order], vals[order]
    first = np.r_[len(ends) > 0, ends[1:] != ends[:-1]][:len(ends)]  # no tree links (K = N): no ends at all
    top1 = np.zeros(n)
    top1[ends[first]] = vals[first]
    second = np.r_[False, first[:-1]] & ~first
    top2 = np.zeros(n)
    top2[ends[second]] = vals[second]
    child_max = np.zeros(n)
    np.maximum.at(child_max, parent[kids], k_up[kids])
    deg = tree_degrees(parent).astype(float)
    box = lambda p, node: np.clip(p, res.min_tx_power_w[node], res.max_tx_power_w[node])  # noqa: E731
    p_old = parent[v]
    arc_edge = edge_lookup(problem, v, u)
    k_new = knee_of_edge[np.maximum(arc_edge, 0)]
    # v keeps its degree; its power covers its children and the new uplink.
    d_v = (box(np.maximum(child_max[v], k_new), v) - box(top1[v], v)) * deg[v]
    # The old parent loses v's link: its largest knee drops to the runner-up when v's link was the largest.
    p_max_without = np.where(np.isclose(top1[p_old], k_up[v]), top2[p_old], top1[p_old])
    d_p = box(p_max_without, p_old) * (deg[p_old] - 1) - box(top1[p_old], p_old) * deg[p_old]
    d_u = box(np.maximum(top1[u], k_new), u) * (deg[u] + 1) - box(top1[u], u) * deg[u]
    return (d_v + d_p + d_u) * problem.model_bits / problem.max_rate_bps


def neighbourhood(problem: SpanningProblem, parent: np.ndarray) -> list[np.ndarray]:
    """Every forest one move away: re-parent, exchange at a saturated satellite, re-root, root exchange."""
    n = problem.num_nodes
    e = problem.edges
    tails, heads = np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]]
    cap = problem.resources.terminals
    eligible = problem.root_eligible if problem.root_eligible is not None else np.ones(n, bool)
    out: list[np.ndarray] = []
    deg = tree_degrees(parent)
    linked = set(zip(tails.tolist(), heads.tolist()))
    kids_of: dict[int, list[int]] = {}
    for c in np.flatnonzero(parent >= 0).tolist():
        kids_of.setdefault(int(parent[c]), []).append(c)

    def add(trial: np.ndarray) -> None:
        if (tree_degrees(trial) <= cap).all() and np.isfinite(forest_depths(trial)).all():
            out.append(trial)

    for v, u in zip(tails.tolist(), heads.tolist()):
        if parent[v] < 0 or parent[v] == u:
            continue
        trial = parent.copy()
        trial[v] = u
        if deg[u] < cap[u]:
            add(trial)
        else:
            out.extend(_exchanges_at(parent, v, u, kids_of, linked, deg, cap))
    roots = np.flatnonzero(parent < 0)
    for v in range(n):
        if parent[v] >= 0 and eligible[v]:
            out.append(reroot(parent, v))  # same tree, new root: always a valid forest
    for r in roots.tolist():  # root exchange: r joins a neighbour's tree, some satellite w leads instead
        for u in np.r_[e[e[:, 0] == r, 1], e[e[:, 1] == r, 0]].tolist():
            merged = parent.copy()
            merged[r] = u
            if not np.isfinite(forest_depths(merged)).all():
                continue
            for w in np.flatnonzero(eligible & (merged >= 0)).tolist():
                if w != r:
                    trial = merged.copy()
                    trial[w] = -1
                    if (tree_degrees(trial) <= cap).all():
                        out.append(trial)
    return out


#: Up to this many satellites the small search also tries two re-parent moves at once where no single move helps:
#: with binding budgets (acquisition, terminal power) the one-move neighbours of a good forest can all be
#: infeasible while a two-move exchange is not (found on a cubesat instance of bench_planner --hardware).
PAIR_MOVES_UP_TO = 12


def pair_moves(problem: SpanningProblem, parent: np.ndarray) -> list[np.ndarray]:
    """Every valid forest two re-parent moves away (each move over a candidate link), degrees within terminals."""
    e = problem.edges
    tails, heads = np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]]
    cap = problem.resources.terminals
    moves = [(v, u) for v, u in zip(tails.tolist(), heads.tolist()) if parent[v] >= 0 and parent[v] != u]
    out: dict[bytes, np.ndarray] = {}
    for i, (v, u) in enumerate(moves):
        first = parent.copy()
        first[v] = u
        for w, x in moves[i + 1:]:
            if w == v:
                continue
            trial = first.copy()
            trial[w] = x
            key = trial.tobytes()
            if key not in out and (tree_degrees(trial) <= cap).all() and np.isfinite(forest_depths(trial)).all():
                out[key] = trial
    return list(out.values())


def _exchanges_at(parent: np.ndarray, v: int, u: int, kids_of: dict[int, list[int]], linked: set[tuple[int, int]],
                  deg: np.ndarray, cap: np.ndarray):
    """Forests where v moves under the saturated u and one of u's children w moves under v (degrees and cycles checked).

    u keeps its degree and v gains one, so these reach forests that single re-parent moves cannot when
    terminals bind (every path between them would pass through a degree violation).
    """
    if parent[v] < 0 or parent[v] == u or deg[u] < cap[u] or deg[v] + 1 > cap[v]:
        return
    for w in kids_of.get(u, []):
        if w == v or (w, v) not in linked:
            continue
        trial = parent.copy()
        trial[v], trial[w] = u, v
        if np.isfinite(forest_depths(trial)).all():  # not when u sits below v's new subtree
            yield trial
