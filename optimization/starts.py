"""Start forests for the topology search: the degree-bounded link-time shortest-path tree from central satellites.

A strong start matters more than a long search: the degree-bounded **link-time shortest-path tree** (Dijkstra
growth on up+down link time that skips saturated parents) grown from the best of the most central satellites,
with extra roots spread far apart for a forest. :mod:`optimization.search` improves it with moves.

References: degree-constrained shortest-path trees are the classical start of degree-constrained minimum spanning
tree local search (Narula & Ho 1980; Ribeiro & Souza 2002).
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from optimization.costs import link_costs
from optimization.errors import OptimizationError
from optimization.forests import validate_forest
from optimization.problem import SpanningProblem
from optimization.resources import ForestValuer, optimal_resources


def cap_link_times(problem: SpanningProblem) -> np.ndarray:
    """Per undirected candidate edge: up + down model transfer time at the power that reaches the cap (s)."""
    e = np.arange(problem.num_edges)
    a, b = problem.edges[:, 0], problem.edges[:, 1]
    res = problem.resources
    knee = problem.max_rate_bps / problem.rate_per_watt
    t_ab, _ = link_costs(problem, e, np.clip(knee, res.min_tx_power_w[a], res.max_tx_power_w[a]))
    t_ba, _ = link_costs(problem, e, np.clip(knee, res.min_tx_power_w[b], res.max_tx_power_w[b]))
    return t_ab + t_ba


def held_link_bonus(problem: SpanningProblem) -> np.ndarray:
    """Per undirected candidate edge: its acquisition time above the cheapest edge's (s); 0 where all are equal.

    Added to a start's edge weight, it grows the start along links that are already up, so a start needs only the
    acquisitions that the links lost since the last round force (a new link costs seconds to minutes, a transfer
    over a held one milliseconds). Uniform acquisition (every link new, or free) leaves the weight unchanged.
    """
    acq = problem.acquisition_s
    return acq - acq.min() if len(acq) else acq


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

    Links already up (no acquisition) are preferred: the growth weight adds each link's acquisition time above
    the cheapest (:func:`held_link_bonus`).

    Roots: the 2 x `candidates` most central satellites by closeness plus the 3 of least eccentricity.
    Each forest is ranked with the steps and batches that exact resources give the first one (the
    fewest steps would misjudge communication-heavy regimes); the 2 best are then valued exactly
    (up to 5000 satellites).
    """
    weight = (np.ones(problem.num_edges) if hops else cap_link_times(problem)) + held_link_bonus(problem)
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
