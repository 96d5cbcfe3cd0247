"""Topology search on the true objective: improving moves from strong starts, resources re-solved.

Starts come from :mod:`optimization.starts` (the degree-bounded link-time shortest-path tree from central
satellites) and :mod:`optimization.forests` (BFS forest, distance MST). Moves (first-improvement local search, every
candidate checked exactly):

* **re-parent** a satellite with its whole subtree (:mod:`optimization.moves` screens every arc at once);
* **exchange** a tree link for a non-tree link, and **re-root** a tree at one of its most central satellites.

A forest is valued with its steps and batches held and its clocks and round time re-solved
(:class:`ForestValuer`, one convex search over T); after the moves stall the resources are re-solved
exactly (:func:`optimization.resources.optimal_resources`) and the search resumes, so the answer is a
local optimum of the true objective under both move types. Small instances run an exhaustive search of
single moves and, where none helps, of move pairs (:func:`small_search`).

References: subtree re-attachment and link exchange are the classical neighbourhood of degree-constrained minimum
spanning tree local search (Narula & Ho 1980; Ribeiro & Souza 2002).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from optimization.costs import link_costs
from optimization.defaults import Resources
from optimization.errors import OptimizationError
from optimization.forests import reroot, tree_degrees
from optimization.problem import SpanningProblem
from optimization.resources import ForestValuer, Valuation, forest_times, optimal_resources
from optimization.starts import cap_link_times
from optimization.moves import PAIR_MOVES_UP_TO, _compatible, _exchanges_at, _screen, neighbourhood, pair_moves


#: Up to this many satellites the search is an iterated local search over the full neighbourhood with
#: exact re-valuation of a shortlist (:func:`small_search`).
SMALL_SEARCH_UP_TO = 24
#: Up to this many satellites, a stalled search also tries every exchange move (each valued exactly).
EXCHANGES_UP_TO = 40
#: Up to this many satellites, the best root moves of a stalled search are re-valued with exact resources.
EXACT_ROOT_MOVES_UP_TO = 200


@dataclass
class SearchResult:
    """The search's best forest, its exact resources and how it got there."""

    parent: np.ndarray
    resources: Resources
    objective: float
    moves: int = 0
    rounds: int = 0
    history: list[dict] = field(default_factory=list)


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
            best_parent, best_val = _best_reparent(problem, parent, valuer, cur, (arc_tail, arc_head, up_t, down_t),
                                                   batch)
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
        if n <= EXACT_ROOT_MOVES_UP_TO:
            parent, new_res, costs, accepted = _exact_root_moves(problem, ranked, idle, parent, new_res, costs)
            rerooted, moved = rerooted + accepted, moved + accepted
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


def _best_reparent(problem: SpanningProblem, parent: np.ndarray, valuer: ForestValuer, cur: Valuation,
                   arcs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], batch: int
                   ) -> tuple[np.ndarray | None, Valuation]:
    """The best improving re-parent move (or compatible group of moves) found among the screened arcs, with its
    valuation; (None, cur) when none improves. ``arcs``: directed arc tails, heads and up/down link times (s)."""
    arc_tail, arc_head, up_t, down_t = arcs
    n = problem.num_nodes
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
    return best_parent, best_val


def _exact_root_moves(problem: SpanningProblem, ranked: list[tuple[float, np.ndarray]], idle: np.ndarray,
                      parent: np.ndarray, res: Resources, costs) -> tuple[np.ndarray, Resources, object, int]:
    """Root moves change the forest so much that held steps and batches misjudge them: the best few the held
    valuation ranked are re-valued with exact resources. Returns the forest, its resources and costs, and how
    many root moves were taken."""
    taken = 0
    for _, trial in ranked[:3]:
        try:
            r2, c2 = optimal_resources(problem, trial, idle, powers=False)
        except OptimizationError:
            continue
        if c2.objective < costs.objective * (1 - 1e-9):
            parent, res, costs = trial, r2, c2
            taken += 1
    return parent, res, costs, taken


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


