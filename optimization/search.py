"""Topology search on the true objective: strong start trees, then improving moves with resources re-solved.

Start points
    * the degree-bounded **link-time shortest-path tree** (Dijkstra growth on up+down link time that
      skips saturated parents), grown from the best of the most central satellites;
    * the hop-count BFS forest and the distance MST (:mod:`optimization.forests`).

Moves (first-improvement local search, every candidate checked exactly)
    * **re-parent** a satellite with its whole subtree onto another candidate neighbour outside the
      subtree with a free terminal; every directed candidate arc is screened at once by a first-order
      estimate (the marginal value of slack of each satellite times the change of its path times,
      summed over subtrees with an Euler tour), the best few are valued exactly;
    * **re-root** a tree at one of its most central satellites.

A forest is valued with its steps and batches held and its clocks and round time re-solved
(:class:`ForestValuer`, one convex search over T); after the moves stall the resources are re-solved
exactly (:func:`optimization.resources.optimal_resources`) and the search resumes, so the answer is a
local optimum of the true objective under both move types.

References: degree-constrained shortest-path trees and subtree re-attachment moves are the classical
neighbourhood of degree-constrained minimum spanning tree local search (Narula & Ho 1980; Ribeiro &
Souza 2002); the Euler-tour subtree test is that of Tarjan & Vishkin (1985).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import depth_first_order, dijkstra

from optimization.costs import link_costs
from optimization.defaults import Resources
from optimization.errors import OptimizationError
from optimization.forests import forest_depths, reroot, tree_degrees, validate_forest
from optimization.problem import SpanningProblem
from optimization.resources import ForestValuer, Valuation, forest_times, optimal_resources


#: Up to this many satellites the search is an iterated local search over the full neighbourhood with
#: exact re-valuation of a shortlist (:func:`small_search`).
SMALL_SEARCH_UP_TO = 24
#: Up to this many satellites, a stalled search also tries every exchange move (each valued exactly).
EXCHANGES_UP_TO = 40
#: Up to this many satellites, the best root moves of a stalled search are re-valued with exact resources.
EXACT_ROOT_MOVES_UP_TO = 200


def cap_link_times(problem: SpanningProblem) -> np.ndarray:
    """Per undirected candidate edge: up + down model transfer time at the power that reaches the cap (s)."""
    e = np.arange(problem.num_edges)
    a, b = problem.edges[:, 0], problem.edges[:, 1]
    res = problem.resources
    knee = problem.max_rate_bps / problem.rate_per_watt
    t_ab, _ = link_costs(problem, e, np.clip(knee, res.min_tx_power_w[a], res.max_tx_power_w[a]))
    t_ba, _ = link_costs(problem, e, np.clip(knee, res.min_tx_power_w[b], res.max_tx_power_w[b]))
    return t_ab + t_ba


def _adjacency(problem: SpanningProblem, weight: np.ndarray):
    """Symmetric CSR matrix of the candidate graph with `weight` per edge."""
    n, e = problem.num_nodes, problem.edges
    w = np.r_[weight, weight] + 1e-300
    return coo_matrix((w, (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)).tocsr()


def central_satellites(problem: SpanningProblem, weight: np.ndarray, count: int, sweeps: int = 4) -> np.ndarray:
    """The `count` satellites of least estimated eccentricity under `weight`, in that order.

    Eccentricity is estimated from `sweeps` peripheral satellites found by repeated farthest-point
    sweeps (exact on trees with two sweeps; a close estimate on the near-regular ISL graphs).
    """
    graph = _adjacency(problem, weight)
    far = [0]
    dist = dijkstra(graph, indices=[0])
    ecc = np.zeros(problem.num_nodes)
    for _ in range(sweeps):
        d = dist[-1]
        nxt = int(np.argmax(np.where(np.isfinite(d), d, -1.0)))
        far.append(nxt)
        dist = dijkstra(graph, indices=far[1:])
    ecc = np.where(np.isfinite(dist), dist, np.inf).max(axis=0)
    return np.argsort(ecc, kind="stable")[:count]


def degree_bounded_spt(problem: SpanningProblem, roots: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """Shortest-path forest from `roots` under edge `weight`, skipping saturated parents; None if it cannot span.

    A satellite whose every reached neighbour is saturated is left out, so the growth can fail where the
    terminal limits are tight; the planner then falls back on the repaired forests.

    References
    ----------
    .. [1] E. W. Dijkstra, "A note on two problems in connexion with graphs", Numerische Mathematik 1,
       269-271, 1959.
    """
    n = problem.num_nodes
    graph = _adjacency(problem, weight)
    indptr, indices, data = graph.indptr, graph.indices, graph.data
    cap = problem.resources.terminals
    deg = np.zeros(n, np.int64)
    parent = np.full(n, -2, np.int64)
    heap: list[tuple[float, int, int]] = []
    for r in roots.tolist():
        heap.append((0.0, r, -1))
    heapq.heapify(heap)
    done = 0
    while heap and done < n:
        d, v, u = heapq.heappop(heap)
        if parent[v] != -2 or (u >= 0 and deg[u] >= cap[u]):
            continue
        parent[v] = u
        done += 1
        if u >= 0:
            deg[u] += 1
            deg[v] += 1
        if deg[v] >= cap[v]:
            continue
        lo, hi = indptr[v], indptr[v + 1]
        for w, c in zip(indices[lo:hi].tolist(), data[lo:hi].tolist()):
            if parent[w] == -2:
                heapq.heappush(heap, (d + c, w, v))
    if done < n:
        return None
    return parent


def spread_roots(problem: SpanningProblem, first: int, k: int, weight: np.ndarray) -> np.ndarray:
    """`first` plus k-1 more roots by farthest-first traversal (a 2-approximate k-centre), eligible only."""
    roots = [int(first)]
    if k <= 1:
        return np.array(roots)
    graph = _adjacency(problem, weight)
    eligible = problem.root_eligible if problem.root_eligible is not None else np.ones(problem.num_nodes, bool)
    dist = dijkstra(graph, indices=roots, min_only=True)
    for _ in range(k - 1):
        score = np.where(eligible & np.isfinite(dist), dist, -1.0)
        score[roots] = -2.0
        unreached = np.flatnonzero(~np.isfinite(dist) & eligible)
        nxt = int(unreached[0]) if len(unreached) else int(np.argmax(score))
        roots.append(nxt)
        dist = np.minimum(dist, dijkstra(graph, indices=[nxt])[0])
    return np.array(roots)


@dataclass
class SearchResult:
    """The search's best forest, its exact resources and how it got there."""

    parent: np.ndarray
    resources: Resources
    objective: float
    moves: int = 0
    rounds: int = 0
    history: list[dict] = field(default_factory=list)


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


def small_search(problem: SpanningProblem, parent: np.ndarray, res: Resources, objective: float, *,
                 deadline: float, steps: int = 20, shortlist: int = 6, seed: int = 0) -> SearchResult:
    """Iterated local search for small problems with every move's shortlist valued by exact resources.

    Held steps and batches misjudge large changes when communication dominates (the best steps move
    with the forest), so each step values the whole neighbourhood with held resources, re-values the
    `shortlist` best exactly (:func:`optimization.resources.optimal_resources`) and moves to the best if
    it improves. At a local optimum it kicks to a random shortlisted neighbour and goes on; the best
    forest seen is returned after `steps` steps (a count, so plans do not depend on the machine's
    load) or when `deadline` passes.
    """
    rng = np.random.default_rng(seed)
    n = problem.num_nodes
    idle = np.full(n, problem.min_idle_s)
    cur, cur_res, cur_obj = parent.copy(), res, objective
    out = SearchResult(parent.copy(), res, objective)
    kicks = 0
    seen: set[bytes] = {cur.tobytes()}
    for _ in range(steps):
        if time.perf_counter() >= deadline:
            break
        valuer = ForestValuer(problem, cur_res.local_steps, cur_res.batch_size, idle)
        held = []
        for trial in neighbourhood(problem, cur):
            if trial.tobytes() in seen:
                continue
            v = valuer.value(trial)
            if v is not None:
                held.append((float(v.value), trial))
        if n <= PAIR_MOVES_UP_TO and (not held or min(h[0] for h in held) >= cur_obj * (1 - 1e-9)):
            for trial in pair_moves(problem, cur):  # a local optimum for one move: try two at once
                if trial.tobytes() in seen:
                    continue
                v = valuer.value(trial)
                if v is not None:
                    held.append((float(v.value), trial))
        if not held:
            break
        held.sort(key=lambda vt: vt[0])
        exact = []
        for _, trial in held[:shortlist]:
            if time.perf_counter() >= deadline:
                break
            try:
                r2, c2 = optimal_resources(problem, trial, idle, powers=False)
            except OptimizationError:
                continue
            exact.append((c2.objective, trial, r2))
        if not exact:
            break
        exact.sort(key=lambda x: x[0])
        obj, trial, r2 = exact[0]
        if obj < cur_obj * (1 - 1e-9):
            out.moves += 1
        else:  # a local optimum: kick to a random shortlisted neighbour
            kicks += 1
            obj, trial, r2 = exact[int(rng.integers(len(exact)))]
        cur, cur_res, cur_obj = trial, r2, obj
        seen.add(cur.tobytes())
        if cur_obj < out.objective * (1 - 1e-9):
            out.parent, out.resources, out.objective = cur.copy(), cur_res, cur_obj
    out.history.append({"phase": "search", "round": 0, "moves": out.moves, "reroots": 0, "kicks": kicks,
                        "objective": out.objective, "seconds": 0.0})
    out.rounds = 1
    return out


def local_search(problem: SpanningProblem, parent: np.ndarray, res: Resources, objective: float, *,
                 deadline: float, batch: int = 6, max_rounds: int = 4) -> SearchResult:
    """Improve `parent` by re-parent and re-root moves until no move helps or `deadline` (perf_counter) passes.

    Problems up to `SMALL_SEARCH_UP_TO` satellites use :func:`small_search` instead.
    """
    if problem.num_nodes <= SMALL_SEARCH_UP_TO:
        return small_search(problem, parent, res, objective, deadline=deadline)
    parent = parent.copy()
    n = problem.num_nodes
    idle = np.full(n, problem.min_idle_s)
    e = problem.edges
    arc_tail, arc_head = np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]]
    arc_edge = np.r_[np.arange(len(e)), np.arange(len(e))]
    pmax = problem.resources.max_tx_power_w
    knee = problem.max_rate_bps / problem.rate_per_watt[arc_edge]
    up_t, _ = link_costs(problem, arc_edge, np.clip(knee, problem.resources.min_tx_power_w[arc_tail], pmax[arc_tail]))
    down_t, _ = link_costs(problem, arc_edge, np.clip(knee, problem.resources.min_tx_power_w[arc_head], pmax[arc_head]))
    out = SearchResult(parent.copy(), res, objective)
    k_roots = int((parent < 0).sum())
    for rnd in range(max_rounds):
        if time.perf_counter() > deadline or n < 3:
            break
        valuer = ForestValuer(problem, res.local_steps, res.batch_size, idle)
        cur = valuer.value(parent)
        if cur is None:
            break
        moved = 0
        rerooted = 0
        stalled = False
        ranked: list[tuple[float, np.ndarray]] = []
        while not stalled and time.perf_counter() < deadline:
            stalled = True
            est, legal, tour = _screen(problem, parent, cur, arc_tail, arc_head, up_t, down_t)
            cand = np.flatnonzero(legal & (est < 0))
            cand = cand[np.argsort(est[cand], kind="stable")]
            best_val, best_parent = cur, None
            # Many independent improving moves at once (large constellations have hundreds): apply a
            # compatible set together and keep it when the exact value improves.
            group = _compatible(cand[: 64 * batch], arc_tail, arc_head, parent, tour, max(n // 20, 1))
            if len(group) > 1:
                trial = parent.copy()
                trial[arc_tail[group]] = arc_head[group]
                v = valuer.value(trial)
                if v is not None and v.value < cur.value * (1 - 1e-9):
                    best_val, best_parent = v, trial
            tried = 0
            for i in ([] if best_parent is not None else cand[: 4 * batch].tolist()):
                trial = parent.copy()
                trial[arc_tail[i]] = arc_head[i]
                v = valuer.value(trial)
                tried += 1
                if v is not None and v.value < best_val.value * (1 - 1e-9):
                    best_val, best_parent = v, trial
                if best_parent is not None and tried >= batch:
                    break
            if best_parent is None and n <= EXCHANGES_UP_TO:
                best_parent, best_val = _try_exchanges(problem, parent, valuer, cur)
                if best_parent is not None:
                    moved += 1
            if best_parent is None and rerooted < 2 * k_roots:
                best_parent, best_val, ranked = _try_reroots(problem, parent, valuer, cur)
                if best_parent is not None:
                    rerooted += 1
            if best_parent is not None:
                parent, cur = best_parent, best_val
                moved += 1
                stalled = False
        new_res, costs = optimal_resources(problem, parent, idle, powers=False)
        # Root moves change the forest so much that held steps and batches misjudge them: on small problems
        # the best few the held valuation ranked are re-valued with exact resources.
        if n <= EXACT_ROOT_MOVES_UP_TO:
            for _, trial in ranked[:3]:
                try:
                    r2, c2 = optimal_resources(problem, trial, idle, powers=False)
                except OptimizationError:
                    continue
                if c2.objective < costs.objective * (1 - 1e-9):
                    parent, new_res, costs = trial, r2, c2
                    rerooted += 1
                    moved += 1
        out.history.append({"phase": "search", "round": rnd, "moves": moved, "reroots": rerooted,
                            "objective": costs.objective, "seconds": 0.0})
        out.moves += moved
        out.rounds = rnd + 1
        improved = costs.objective < out.objective * (1 - 1e-9)
        if improved:
            out.parent, out.resources, out.objective = parent.copy(), new_res, costs.objective
        res = new_res
        if not improved or moved == 0:
            break
    return out


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


def _try_exchanges(problem: SpanningProblem, parent: np.ndarray, valuer: ForestValuer,
                   cur: Valuation) -> tuple[np.ndarray | None, Valuation]:
    """The best improving exchange move (:func:`_exchanges_at`), each valued exactly."""
    deg = tree_degrees(parent)
    cap = problem.resources.terminals
    e = problem.edges
    tails, heads = np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]]
    kids_of: dict[int, list[int]] = {}
    for c in np.flatnonzero(parent >= 0).tolist():
        kids_of.setdefault(int(parent[c]), []).append(c)
    linked = set(zip(tails.tolist(), heads.tolist()))
    best_val, best_parent = cur, None
    for v, u in zip(tails.tolist(), heads.tolist()):
        for trial in _exchanges_at(parent, v, u, kids_of, linked, deg, cap):
            val = valuer.value(trial)
            if val is not None and val.value < best_val.value * (1 - 1e-9):
                best_val, best_parent = val, trial
    return best_parent, best_val


def _try_reroots(problem: SpanningProblem, parent: np.ndarray, valuer: ForestValuer, cur: Valuation,
                 count: int = 6) -> tuple[np.ndarray | None, Valuation, list[tuple[float, np.ndarray]]]:
    """Re-root moves: each tree at one of its most central satellites, and for K > 1 pairs of trees at once.

    Single moves try the satellites whose up+down path time is nearest half the tree's longest (the
    middle of its slowest branch; every satellite of a small tree). With several trees the roots also
    exchange the cluster models (:func:`optimization.evaluate.mixing_costs`), so two trees joined by a
    fast candidate link are also re-rooted together at that link's two ends.
    """
    times = forest_times(problem, parent, cur.tx_power_w)
    eligible = problem.root_eligible if problem.root_eligible is not None else np.ones(problem.num_nodes, bool)
    best_val, best_parent = cur, None
    ranked: list[tuple[float, np.ndarray]] = []

    def consider(trial: np.ndarray) -> None:
        nonlocal best_val, best_parent
        v = valuer.value(trial)
        if v is None:
            return
        ranked.append((float(v.value), trial))
        if v.value < best_val.value * (1 - 1e-9):
            best_val, best_parent = v, trial

    score = times.up_path_s + times.down_path_s
    roots = np.flatnonzero(parent < 0)
    for root in roots.tolist():
        members = np.flatnonzero(times.tree == root)
        if len(members) < 2:
            continue
        order = members[np.argsort(np.abs(score[members] - 0.5 * score[members].max()), kind="stable")]
        for cand in order[:count].tolist():
            if cand != root and eligible[cand]:
                consider(reroot(parent, cand))
    if len(roots) > 1:
        e = problem.edges
        a, b = e[:, 0], e[:, 1]
        between = np.flatnonzero((times.tree[a] != times.tree[b]) & eligible[a] & eligible[b])
        link = cap_link_times(problem)[between]
        for i in between[np.argsort(link, kind="stable")][:count].tolist():
            trial = parent
            for end in (int(a[i]), int(b[i])):
                if trial[end] >= 0:
                    trial = reroot(trial, end)
            if trial is not parent:
                consider(trial)
        _root_exchanges(problem, parent, times, eligible, consider, count)
    ranked.sort(key=lambda vt: vt[0])
    return best_parent, best_val, ranked


def _root_exchanges(problem: SpanningProblem, parent: np.ndarray, times, eligible: np.ndarray, consider,
                    count: int) -> None:
    """Merge a tree into a neighbouring one and split that one elsewhere, keeping K trees.

    This moves a root: which satellites stand alone (or lead a small tree) is a choice that neither
    re-parenting (roots stay roots) nor re-rooting (trees keep their members) can change.
    """
    n = problem.num_nodes
    cap = problem.resources.terminals
    e = problem.edges
    small = n <= 200
    for r in np.flatnonzero(parent < 0).tolist():
        ends = np.r_[e[e[:, 0] == r, 1], e[e[:, 1] == r, 0]]
        ends = ends[times.tree[ends] != r]  # a saturated host may free a terminal by the split below
        if not small:
            ends = ends[:2]
        for u in ends.tolist():
            merged = parent.copy()
            merged[r] = u
            host = times.tree[u]
            members = np.flatnonzero(((times.tree == host) | (times.tree == r)) & eligible & (merged >= 0))
            if not small:
                members = members[np.argsort(-times.up_path_s[members], kind="stable")][:count]
            for w in members.tolist():
                if w == r:
                    continue
                trial = merged.copy()
                trial[w] = -1
                if (tree_degrees(trial) <= cap).all():
                    consider(trial)


def closeness_candidates(problem: SpanningProblem, weight: np.ndarray, count: int, sources: int = 128,
                         pool: int = 200, seed: int = 0) -> np.ndarray:
    """The `count` eligible satellites of least total `weight`-distance to the others (closeness centrality).

    The `pool` best by distance to `sources` sampled satellites are re-ranked by their exact closeness;
    on small graphs every satellite is in the pool. Unreachable satellites count a large distance.
    """
    n = problem.num_nodes
    graph = _adjacency(problem, weight)
    eligible = problem.root_eligible if problem.root_eligible is not None else np.ones(n, bool)
    cand = np.flatnonzero(eligible)
    big = 10.0 * float(weight.sum() + 1.0)
    if len(cand) > pool:
        rng = np.random.default_rng(seed)
        src = rng.choice(n, size=min(sources, n), replace=False)
        d = dijkstra(graph, indices=src)[:, cand]
        cand = cand[np.argsort(np.where(np.isfinite(d), d, big).sum(axis=0), kind="stable")[:pool]]
    d = dijkstra(graph, indices=cand)
    total = np.where(np.isfinite(d), d, big).sum(axis=1)
    return cand[np.argsort(total, kind="stable")[:count]]


def spt_start(problem: SpanningProblem, k: int, candidates: int = 10, hops: bool = False) -> np.ndarray | None:
    """Best degree-bounded link-time shortest-path forest over the most central roots.

    With `hops` the growth and the centrality use hop counts instead (a BFS forest from the hop
    centres: where airtime dominates, depth is what counts).

    Roots: the 2 x `candidates` most central satellites by closeness plus the 3 of least eccentricity.
    Each forest is ranked with the steps and batches that exact resources give the first one (the
    fewest steps would misjudge communication-heavy regimes); the 2 best are then valued exactly
    (up to 5000 satellites).
    """
    weight = np.ones(problem.num_edges) if hops else cap_link_times(problem)
    n = problem.num_nodes
    eligible = problem.root_eligible if problem.root_eligible is not None else np.ones(n, bool)
    # Sampled closeness needs many sources to rank near-symmetric shells (measured at 1584: 24 sources
    # and a pool of 60 missed every one of the exact 10 best; 128 and 200 found all of them in 0.05 s).
    sources, pool = (128, 200) if n <= 5000 else (32, 40)
    # Near-symmetric shells make closeness almost flat, while the degree-bounded growth from two equally
    # central roots can differ by several percent: twice `candidates` roots are grown and ranked.
    order = list(closeness_candidates(problem, weight, 2 * candidates, sources=sources, pool=pool).tolist())
    order += [c for c in central_satellites(problem, weight, 3).tolist() if eligible[c] and c not in order]
    forests: list[np.ndarray] = []
    for c in order:
        roots = spread_roots(problem, c, k, weight)
        parent = degree_bounded_spt(problem, roots, weight)
        if parent is None:
            continue
        try:
            validate_forest(problem, parent)
        except OptimizationError:  # an unusable growth is simply not a candidate
            continue
        forests.append(parent)
    if not forests:
        return None
    idle = np.full(n, problem.min_idle_s)
    try:
        res, _ = optimal_resources(problem, forests[0], idle, powers=False)
        steps, batch = res.local_steps, res.batch_size
    except OptimizationError:
        steps, batch = np.full(n, problem.step_bounds()[0]), problem.batch_limits()[0]
    valuer = ForestValuer(problem, steps, batch, idle)
    held = []
    for parent in forests:
        v = valuer.value(parent)
        held.append(v.value if v is not None else np.inf)
    ranked = [forests[i] for i in np.argsort(held, kind="stable")]
    if n > 5000 or len(ranked) == 1:
        return ranked[0]
    best, best_val = ranked[0], np.inf
    for parent in ranked[:2]:
        try:
            value = optimal_resources(problem, parent, idle, powers=False)[1].objective
        except OptimizationError:
            continue
        if value < best_val:
            best, best_val = parent, value
    return best
