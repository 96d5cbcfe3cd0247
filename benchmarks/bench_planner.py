"""Planner benchmark: Fed-Span's `optimization.solve` against independent references, as goal ratios.

The references are written here, independently of the planner's own search and resource code:

* brute force over every rooted spanning forest (K = 1 and 2, degree <= terminals, roots eligible) of
  small random graphs, each forest with `optimization.resources.optimal_resources`;
* at scale, the best of three simple trees, each with the same exact resources
  (`optimal_resources`): a degree-bounded shortest-path tree on link time (up + down at the rate-cap
  power) grown from the best of the 10 most central satellites (closeness on link time), a
  degree-bounded hop-count BFS tree from the hop centre, and a degree-bounded distance MST rooted at
  its centre (the library's `bfs_forest` / `distance_forest` are scored too when they succeed).

Sections (every goal is printed as "GOAL <name>: measured <value> (target <target>) MET/NOT MET"):
  a. small instances vs brute force: median gap, max gap, fraction where the best forest was found;
  b. sizes 66 / 264 / 1584 / real 5236 / 50,000 (a Walker file written on the fly): wall of solve(),
     objective against the best reference, plan.source, validity;
  c. regime table on shell 1: payload (0.15, 10, 100, 1000 Mbit) x rate cap (10 Gbit/s, 1 Gbit/s,
     100 Mbit/s): Fed-Span / best reference, the winning reference's depth and length, plan.source.
Results go to the scratch folder benchmarks/out/ (ignored by git): planner.json (planner-quick.json with
--quick) and the regime plot planner-regime.png (planner-regime-quick.png). ``--publish`` writes them where the
docs quote them instead: benchmarks/results/ and docs/images/.

Usage: python benchmarks/bench_planner.py [--quick] [--instances N] [--sizes 66,264,...]
                                          [--regime shell1|small|none] [--workers N]
                                          [--out DIR] [--images DIR] [--publish]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fedspan.scenario import Scenario, ScenarioConfig  # noqa: E402
from optimization.jsonsafe import json_safe  # noqa: E402
from optimization import (  # noqa: E402
    OptimizationError,
    SatelliteResources,
    SolveOptions,
    SpanningProblem,
    bfs_forest,
    distance_forest,
    evaluate,
    solve,
)
from orbits import Constellation, WalkerSpec, walker_delta  # noqa: E402
from orbits.links import LinkParams, laser_rate_per_watt  # noqa: E402
from orbits.tle import write_tle  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FEDSPAN_SHARED_DATA", REPO.parent / "shared" / "data"))
SPEED_OF_LIGHT_KM_S = 299_792.458

PAYLOADS_MBIT = (0.15, 10.0, 100.0, 1000.0)
RATE_CAPS_BPS = (10e9, 1e9, 100e6)
COMM_HEAVY_AIRTIME_S = 0.1  # a regime cell is communication-heavy when one hop's airtime at the cap is at least this
SEARCH_SOURCES = ("sca", "search")
SPT_ROOTS = 10  # central satellites tried as the link-time SPT's root (--spt-roots)
RATIO_TOL = 1e-6  # "objective <= best reference" allows this relative excess (solver-level noise); JSON keeps exact ratios


def optimal_resources(problem: SpanningProblem, parent: np.ndarray):
    """`optimization.resources.optimal_resources` (imported late so the module loads without it)."""
    from optimization.resources import optimal_resources as exact

    return exact(problem, parent)


# --------------------------------------------------------------------------------------------------
# Graph helpers (own code: adjacency, components, tree depth and length)
# --------------------------------------------------------------------------------------------------

def neighbours(problem: SpanningProblem) -> list[list[tuple[int, int]]]:
    """Per satellite: (neighbour, edge index) of every candidate link."""
    nbrs: list[list[tuple[int, int]]] = [[] for _ in range(problem.num_nodes)]
    for idx, (a, b) in enumerate(problem.edges.tolist()):
        nbrs[a].append((b, idx))
        nbrs[b].append((a, idx))
    return nbrs


def edge_index(problem: SpanningProblem) -> dict[tuple[int, int], int]:
    """(a, b) and (b, a) -> edge index."""
    out = {}
    for idx, (a, b) in enumerate(problem.edges.tolist()):
        out[(a, b)] = idx
        out[(b, a)] = idx
    return out


def component_labels(problem: SpanningProblem) -> np.ndarray:
    """Connected component of every satellite in the candidate graph."""
    n, e = problem.num_nodes, problem.edges
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def tree_order(parent: np.ndarray) -> list[int]:
    """Nodes in breadth-first order from the roots (parents before children); raises on a cycle."""
    n = len(parent)
    kids: list[list[int]] = [[] for _ in range(n)]
    for v, p in enumerate(parent.tolist()):
        if p >= 0:
            kids[p].append(v)
    order = [int(r) for r in np.flatnonzero(parent < 0)]
    head = 0
    while head < len(order):
        order.extend(kids[order[head]])
        head += 1
    if len(order) != n:
        raise ValueError("parent array has a cycle")
    return order


def tree_depth_and_length(problem: SpanningProblem, parent: np.ndarray) -> tuple[int, float]:
    """Largest hop depth and total link length (km) of a forest."""
    idx = edge_index(problem)
    depth = np.zeros(len(parent), int)
    length = 0.0
    for v in tree_order(parent):
        p = int(parent[v])
        if p >= 0:
            depth[v] = depth[p] + 1
            length += float(problem.distance_km[idx[(v, p)]])
    return int(depth.max()), length


def check_forest(problem: SpanningProblem, parent: np.ndarray, num_trees: int) -> list[str]:
    """Everything wrong with `parent` as a plan's forest (own check): links, cycles, K roots, degrees, roots."""
    n = problem.num_nodes
    parent = np.asarray(parent)
    errors = []
    if parent.shape != (n,):
        return [f"parent has shape {parent.shape}, expected ({n},)"]
    idx = edge_index(problem)
    for v, p in enumerate(parent.tolist()):
        if p >= 0 and (v, p) not in idx:
            errors.append(f"satellite {v}: parent {p} is not a candidate link")
        elif p < -1 or p >= n or p == v:
            errors.append(f"satellite {v}: bad parent {p}")
    if errors:
        return errors
    try:
        tree_order(parent)
    except ValueError:
        return ["parent array has a cycle"]
    roots = np.flatnonzero(parent < 0)
    if len(roots) != num_trees:
        errors.append(f"{len(roots)} roots, expected {num_trees}")
    if problem.root_eligible is not None and not problem.root_eligible[roots].all():
        errors.append(f"root {int(roots[~problem.root_eligible[roots]][0])} is not root-eligible")
    deg = np.bincount(parent[parent >= 0], minlength=n) + (parent >= 0)
    over = np.flatnonzero(deg > problem.resources.terminals)
    if len(over):
        errors.append(f"satellite {int(over[0])}: tree degree {deg[over[0]]} > terminals {problem.resources.terminals[over[0]]}")
    return errors


# --------------------------------------------------------------------------------------------------
# Reference trees (own code)
# --------------------------------------------------------------------------------------------------

def link_time_weights(problem: SpanningProblem) -> np.ndarray:
    """Per edge: up + down link time, each end sending at the power where the link reaches the rate cap."""
    res = problem.resources
    a, b = problem.edges[:, 0], problem.edges[:, 1]
    knee = problem.max_rate_bps / problem.rate_per_watt
    total = np.zeros(problem.num_edges)
    for sender in (a, b):
        power = np.clip(knee, res.min_tx_power_w[sender], res.max_tx_power_w[sender])
        rate = np.minimum(problem.rate_per_watt * power, problem.max_rate_bps)
        total += problem.model_bits / rate + problem.delay_s
    return total


def _csr(problem: SpanningProblem, weights: np.ndarray):
    n, e = problem.num_nodes, problem.edges
    w = np.maximum(weights, 1e-15)
    return coo_matrix((np.r_[w, w], (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)).tocsr()


def central_candidates(problem: SpanningProblem, weights: np.ndarray, members: np.ndarray, count: int = 10,
                       rng_seed: int = 0) -> np.ndarray:
    """The `count` most central eligible satellites of a component by closeness on `weights`.

    Exact closeness up to 2500 satellites; above, the 60 best by distance to 24 sampled sources are
    re-ranked by their exact closeness.
    """
    graph = _csr(problem, weights)
    eligible = members if problem.root_eligible is None else members[problem.root_eligible[members]]
    if len(eligible) == 0:
        return eligible
    if len(members) <= 2500:
        pool = eligible
    else:
        rng = np.random.default_rng(rng_seed)
        sources = rng.choice(members, size=min(24, len(members)), replace=False)
        dist = dijkstra(graph, directed=False, indices=sources)[:, eligible]
        pool = eligible[np.argsort(dist.sum(axis=0), kind="stable")[:60]]
    dist = dijkstra(graph, directed=False, indices=pool)[:, members]
    total = dist.sum(axis=1)
    return pool[np.argsort(total, kind="stable")[:count]]


def grow_spt(problem: SpanningProblem, weights: np.ndarray, roots: list[int],
             nbrs: list[list[tuple[int, int]]] | None = None) -> np.ndarray | None:
    """Degree-bounded shortest-path forest from `roots`: Dijkstra growth that skips saturated parents.

    Returns None when a satellite cannot be reached (every route into it passes a saturated parent).
    """
    n = problem.num_nodes
    nbrs = nbrs if nbrs is not None else neighbours(problem)
    cap = problem.resources.terminals.tolist()
    w = weights.tolist()
    deg = [0] * n
    dist = [math.inf] * n
    parent = [-2] * n
    heap: list[tuple[float, int, int]] = []
    for r in roots:
        heap.append((0.0, int(r), -1))
    heapq.heapify(heap)
    done = 0
    while heap:
        d, v, u = heapq.heappop(heap)
        if parent[v] != -2:
            continue
        if u >= 0:
            if deg[u] >= cap[u]:
                continue  # saturated parent: v waits for another route
            deg[u] += 1
            deg[v] += 1
        parent[v] = u
        dist[v] = d
        done += 1
        if deg[v] >= cap[v]:
            continue
        for m, e in nbrs[v]:
            if parent[m] == -2:
                heapq.heappush(heap, (d + w[e], m, v))
    if done < n:
        return None
    return np.asarray(parent, dtype=np.int64)


def tree_radius(parent: np.ndarray, problem: SpanningProblem, weights: np.ndarray) -> float:
    """Largest root-to-node path weight of a forest."""
    idx = edge_index(problem)
    dist = np.zeros(len(parent))
    for v in tree_order(parent):
        p = int(parent[v])
        if p >= 0:
            dist[v] = dist[p] + weights[idx[(v, p)]]
    return float(dist.max())


def _score(problem: SpanningProblem, parent: np.ndarray) -> float:
    """Objective with exact resources; inf where budgets make the forest infeasible."""
    try:
        return float(optimal_resources(problem, parent)[1].objective)
    except OptimizationError:
        return math.inf


def _root_sets(problem: SpanningProblem, weights: np.ndarray, num_trees: int, labels: np.ndarray) -> Iterator[list[int]]:
    """Candidate root sets: one central root per component, plus extra roots for K > components."""
    comps = int(labels.max()) + 1
    per_comp = [central_candidates(problem, weights, np.flatnonzero(labels == c), SPT_ROOTS) for c in range(comps)]
    if any(len(c) == 0 for c in per_comp):
        return
    big = int(np.argmax(np.bincount(labels)))
    base = [int(c[0]) for c in per_comp]
    extra = num_trees - comps
    if extra < 0:
        return
    if extra == 0:
        for cand in per_comp[big]:  # the largest component's root is chosen, the others' are their centres
            roots = list(base)
            roots[big] = int(cand)
            yield roots
        return
    pool = [int(v) for v in central_candidates(problem, weights, np.flatnonzero(labels == big), count=SPT_ROOTS)]
    for combo in itertools.combinations(pool, extra + 1):
        roots = list(base)
        roots[big] = combo[0]
        yield roots + list(combo[1:])


def spt_reference(problem: SpanningProblem, num_trees: int, select: str = "objective") -> np.ndarray | None:
    """Degree-bounded link-time SPT from the best root set among the most central satellites.

    `select` = "objective" picks the root set by the objective with exact resources, "radius" by the
    tree's link-time radius (cheaper at very large sizes).
    """
    weights = link_time_weights(problem)
    labels = component_labels(problem)
    nbrs = neighbours(problem)
    best, best_key = None, math.inf
    for roots in _root_sets(problem, weights, num_trees, labels):
        parent = grow_spt(problem, weights, roots, nbrs)
        if parent is None:
            continue
        key = _score(problem, parent) if select == "objective" else tree_radius(parent, problem, weights)
        if key < best_key:
            best, best_key = parent, key
    return best


def bfs_reference(problem: SpanningProblem, num_trees: int) -> np.ndarray | None:
    """Degree-bounded hop-count BFS forest from hop-central roots (unit weights, same growth)."""
    ones = np.ones(problem.num_edges)
    labels = component_labels(problem)
    nbrs = neighbours(problem)
    best, best_key = None, math.inf
    for roots in itertools.islice(_root_sets(problem, ones, num_trees, labels), 3):
        parent = grow_spt(problem, ones, roots, nbrs)
        if parent is not None:
            key = tree_radius(parent, problem, link_time_weights(problem))
            if key < best_key:
                best, best_key = parent, key
    return best


def mst_reference(problem: SpanningProblem, num_trees: int) -> np.ndarray | None:
    """Degree-bounded distance Kruskal (skip saturated ends), heaviest edges cut to K trees, rooted at centres."""
    n = problem.num_nodes
    up = list(range(n))

    def find(a: int) -> int:
        while up[a] != a:
            up[a] = up[up[a]]
            a = up[a]
        return a

    cap = problem.resources.terminals.tolist()
    deg = [0] * n
    chosen = []
    for idx in np.argsort(problem.distance_km, kind="stable").tolist():
        a, b = problem.edges[idx].tolist()
        if deg[a] < cap[a] and deg[b] < cap[b]:
            ra, rb = find(a), find(b)
            if ra != rb:
                up[ra] = rb
                deg[a] += 1
                deg[b] += 1
                chosen.append(idx)
    labels = component_labels(problem)
    if len(chosen) < n - (int(labels.max()) + 1):
        return None  # greedy degrees split the graph
    eligible = np.ones(n, bool) if problem.root_eligible is None else problem.root_eligible
    keep = list(chosen)
    cut = num_trees - (n - len(chosen))
    for idx in sorted(chosen, key=lambda i: -problem.distance_km[i]):
        if cut <= 0:
            break
        trial = [i for i in keep if i != idx]
        sub = problem.edges[trial]
        lab = connected_components(coo_matrix((np.ones(len(sub)), (sub[:, 0], sub[:, 1])), shape=(n, n)),
                                   directed=False)[1]
        a, b = problem.edges[idx]
        if eligible[lab == lab[a]].any() and eligible[lab == lab[b]].any():
            keep, cut = trial, cut - 1
    if cut > 0:
        return None
    sub = problem.edges[keep]
    w = problem.distance_km[keep]
    graph = coo_matrix((np.r_[w, w], (np.r_[sub[:, 0], sub[:, 1]], np.r_[sub[:, 1], sub[:, 0]])), shape=(n, n)).tocsr()
    lab = connected_components(graph, directed=False)[1]
    roots = []
    for c in range(int(lab.max()) + 1):
        members = np.flatnonzero(lab == c)
        cands = members[eligible[members]]
        if len(cands) > 200:  # tree centre: eccentricity from two sweeps
            d0 = dijkstra(graph, directed=False, indices=members[0])
            far1 = members[np.argmax(d0[members])]
            d1 = dijkstra(graph, directed=False, indices=far1)
            far2 = members[np.argmax(d1[members])]
            d2 = dijkstra(graph, directed=False, indices=far2)
            ecc = np.maximum(d1, d2)[cands]
        else:
            ecc = dijkstra(graph, directed=False, indices=cands)[:, members].max(axis=1)
        roots.append(int(cands[np.argmin(ecc)]))
    _, pred, _ = dijkstra(graph, directed=False, indices=roots, return_predecessors=True, min_only=True)
    parent = np.where(pred < 0, -1, pred).astype(np.int64)
    parent[roots] = -1
    return parent


def reference_forests(problem: SpanningProblem, num_trees: int, spt_select: str = "objective",
                      library: bool = True) -> dict[str, np.ndarray]:
    """Every reference forest that exists under the degree limits, by name."""
    out: dict[str, np.ndarray] = {}
    for name, make in (("link-time SPT", lambda: spt_reference(problem, num_trees, spt_select)),
                       ("BFS", lambda: bfs_reference(problem, num_trees)),
                       ("distance MST", lambda: mst_reference(problem, num_trees))):
        parent = make()
        if parent is not None and not check_forest(problem, parent, num_trees):
            out[name] = parent
    if library:
        for name, make in (("library bfs_forest", bfs_forest), ("library distance_forest", distance_forest)):
            try:
                parent = make(problem, num_trees)
            except OptimizationError:
                continue
            if not check_forest(problem, parent, num_trees):
                out[name] = parent
    return out


@dataclass
class Scored:
    """A forest with its exact-resource objective."""

    name: str
    parent: np.ndarray
    objective: float
    seconds: float
    within_budgets: bool
    depth: int = 0
    length_km: float = 0.0


def score_references(problem: SpanningProblem, forests: dict[str, np.ndarray]) -> list[Scored]:
    """Each forest with `optimal_resources`, best first."""
    out = []
    for name, parent in forests.items():
        start = time.perf_counter()
        try:
            res, costs = optimal_resources(problem, parent)
        except OptimizationError:  # no resources fit the budgets on this forest
            costs = None
        seconds = time.perf_counter() - start
        depth, length = tree_depth_and_length(problem, parent)
        out.append(Scored(name, parent, math.inf if costs is None else float(costs.objective), seconds,
                          costs is not None and costs.within_budgets(problem), depth, length))
    return sorted(out, key=lambda s: s.objective)


# --------------------------------------------------------------------------------------------------
# Brute force over rooted spanning forests (own code)
# --------------------------------------------------------------------------------------------------

def enumerate_forests(problem: SpanningProblem, num_trees: int, limit: int | None = None) -> Iterator[np.ndarray]:
    """Every rooted spanning forest with `num_trees` eligible roots and tree degree <= terminals.

    Each non-root picks a parent among its neighbours; an assignment that closes a cycle is cut off.
    Stops after `limit` forests when given.
    """
    n = problem.num_nodes
    nbrs = [sorted(m for m, _ in row) for row in neighbours(problem)]
    cap = problem.resources.terminals.tolist()
    eligible = [True] * n if problem.root_eligible is None else problem.root_eligible.tolist()
    count = 0
    for roots in itertools.combinations([v for v in range(n) if eligible[v]], num_trees):
        parent = [-2] * n
        for r in roots:
            parent[r] = -1
        free = [v for v in range(n) if parent[v] == -2]
        deg = [0] * n

        def assign(pos: int) -> Iterator[np.ndarray]:
            if pos == len(free):
                yield np.asarray(parent, dtype=np.int64)
                return
            v = free[pos]
            for p in nbrs[v]:
                if deg[p] >= cap[p] or deg[v] >= cap[v]:
                    continue
                # would v -> p close a cycle among the assigned parents?
                u, cyclic = p, False
                while u >= 0:
                    if u == v:
                        cyclic = True
                        break
                    u = parent[u]
                if cyclic:
                    continue
                parent[v] = p
                deg[p] += 1
                deg[v] += 1
                yield from assign(pos + 1)
                deg[p] -= 1
                deg[v] -= 1
                parent[v] = -2

        for forest in assign(0):
            # an unassigned parent (-2) in a chain stops the cycle walk; completed arrays are checked here
            yield forest
            count += 1
            if limit is not None and count >= limit:
                return


def count_forests(problem: SpanningProblem, num_trees: int, limit: int) -> int:
    """Number of rooted forests, counting at most `limit` (+1 to say 'more')."""
    return sum(1 for _ in enumerate_forests(problem, num_trees, limit + 1))


def _score_many(problem: SpanningProblem, forests: list[np.ndarray]) -> list[float]:
    return [_score(problem, p) for p in forests]


def brute_force(problem: SpanningProblem, num_trees: int, pool=None) -> tuple[list[float], list[np.ndarray]]:
    """Objective (with optimal_resources) of every rooted forest, and the forests; `pool` (an Executor) shares
    the scoring out in chunks."""
    forests = list(enumerate_forests(problem, num_trees))
    if pool is None or len(forests) < 8:
        return _score_many(problem, forests), forests
    chunks = [forests[i::pool._max_workers] for i in range(pool._max_workers)]
    scored = list(pool.map(_score_many, [problem] * len(chunks), chunks))
    objectives = [0.0] * len(forests)
    for i, values in enumerate(scored):
        objectives[i::pool._max_workers] = values
    return objectives, forests


# --------------------------------------------------------------------------------------------------
# Random small instances
# --------------------------------------------------------------------------------------------------

REGIMES_SMALL = ((1.6e6, 10e9), (0.15e6, 10e9), (1e8, 1e9), (1e9, 100e6), (1e8, 100e6))


def random_instance(rng: np.random.Generator, n: int, num_trees: int, max_forests: int) -> SpanningProblem:
    """A random geometric-ish graph of `n` satellites, pruned until it has at most `max_forests` rooted forests.

    Satellites sit on a 550 km shell patch; links up to 2600 km are candidates (connected by adding
    the shortest missing bridges); payload and rate cap come from REGIMES_SMALL; terminals 2-4, data
    sizes and clocks vary; a third of the instances restrict roots to half of the satellites, and a quarter
    give every satellite an energy budget (half the compute energy of one smallest-batch step at full
    clock, plus its terminals' worth of its dearest incident link at least energy: every forest stays
    feasible, the clocks are capped).
    """
    radius = 6921.0
    lat = np.radians(rng.uniform(-14, 14, n))
    lon = np.radians(rng.uniform(-14, 14, n))
    pos = radius * np.c_[np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if dist[a, b] <= 2600.0]
    # connect: join components by their closest pair
    while True:
        e = np.array(pairs, dtype=int).reshape(-1, 2)
        lab = connected_components(coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)), directed=False)[1]
        if lab.max() == 0:
            break
        masked = np.where(lab[:, None] != lab[None], dist, np.inf)
        a, b = np.unravel_index(np.argmin(masked), masked.shape)
        pairs.append((min(a, b), max(a, b)))
    bits, cap = REGIMES_SMALL[int(rng.integers(len(REGIMES_SMALL)))]
    terminals = rng.choice([2, 3, 3, 4, 4], size=n)
    eligible = None
    if rng.random() < 1 / 3:
        eligible = np.zeros(n, bool)
        eligible[rng.choice(n, size=max(num_trees + 1, n // 2), replace=False)] = True
    resources = SatelliteResources.uniform(n, num_samples=rng.integers(100, 2000, n).astype(float),
                                           max_cpu_hz=rng.choice([1.0e9, 1.5e9, 2.0e9], size=n),
                                           terminals=terminals)
    budgeted = rng.random() < 0.25

    def build(edge_list):
        e = np.array(edge_list, dtype=int)
        d = dist[e[:, 0], e[:, 1]]
        if budgeted:
            rpw = laser_rate_per_watt(d, LinkParams())
            least = np.maximum(bits / rpw, resources.min_tx_power_w.min() * bits / cap)  # J per transmission
            dearest = np.zeros(n)
            np.maximum.at(dearest, e[:, 0], least)
            np.maximum.at(dearest, e[:, 1], least)
            compute = 0.5 * resources.capacitance * 8 * resources.cycles_per_sample * resources.max_cpu_hz**2
            resources.energy_budget_j = 0.5 * compute + resources.terminals * dearest * 1.01
        return SpanningProblem(num_nodes=n, edges=e, distance_km=d, rate_per_watt=laser_rate_per_watt(d, LinkParams()),
                               delay_s=d / SPEED_OF_LIGHT_KM_S, max_rate_bps=cap, resources=resources, model_bits=bits,
                               num_trees=num_trees, root_eligible=eligible, local_steps_bounds=(1, 10),
                               batch_bounds=(8, 64))

    problem = build(pairs)
    while True:
        found = count_forests(problem, num_trees, max_forests)
        if 1 <= found <= max_forests:
            return problem
        if found == 0:  # degree limits or roots leave no forest: loosen the terminals
            resources.terminals = np.minimum(resources.terminals + 1, 4)
            if (resources.terminals == 4).all():
                resources.terminals[:] = n
            problem = build(pairs)
            continue
        # too many forests: drop a random edge that is not a bridge
        order = rng.permutation(len(pairs))
        for i in order:
            trial = pairs[:i] + pairs[i + 1:]
            e = np.array(trial, dtype=int)
            lab = connected_components(coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)),
                                       directed=False)[1]
            if lab.max() == 0:
                pairs = trial
                break
        else:
            return problem
        problem = build(pairs)


#: Training FLOPs per sample the profile instances price (fedspan.hardware.flops of the project's models):
#: the MLP on 8x8 digits and cnn-large on 28x28, drawn per instance.
PROFILE_FLOPS = (2.9e4, 7.0e7)


def with_profile(problem: SpanningProblem, profile_name: str, rng: np.random.Generator) -> SpanningProblem:
    """The instance re-priced on a named hardware profile (fedspan.hardware.PROFILES).

    Compute from a model's training FLOPs on the profile's computer (static power, DVFS range), the profile's
    link technology (rate model at each edge's distance, rate cap, terminal power, packets) and acquisition on a random
    half of the edges (links that were not up in the previous round). A quarter of the instances get budgets:
    30 % of the satellites may spend 1.05 x their energy at full clock with the fewest steps and smallest batch on
    the distance forest (so budgets bind on larger work). The topology, data and degrees are the instance's.
    """
    from fedspan.hardware import hardware_profile
    from fedspan.hardware.fleet import satellite_arrays
    from optimization.costs import round_costs as _round_costs
    from optimization.forests import distance_forest
    from orbits.links import link_rate_per_watt

    profile = hardware_profile(profile_name)
    n = problem.num_nodes
    arrays = satellite_arrays([profile], float(rng.choice(PROFILE_FLOPS)), index=np.zeros(n, np.int64))
    params = profile.link.link_params()
    old = problem.resources
    resources = SatelliteResources.uniform(
        n, max_cpu_hz=arrays["max_cpu_hz"], min_cpu_hz=arrays["min_cpu_hz"], cycles_per_sample=arrays["cycles_per_sample"],
        capacitance=arrays["capacitance"], static_power_w=arrays["static_power_w"], num_samples=old.num_samples,
        terminals=old.terminals, max_tx_power_w=params.max_tx_power_w, min_tx_power_w=min(0.01, params.max_tx_power_w))
    acquisition = np.where(rng.random(problem.num_edges) < 0.5, params.acquisition_s, 0.0)
    out = replace(problem, rate_per_watt=link_rate_per_watt(problem.distance_km, params),
                  max_rate_bps=params.max_rate_bps, resources=resources, terminal_power_w=params.terminal_power_w,
                  acquisition_s=acquisition, packet_bits=params.packet_bits or None)
    if rng.random() < 0.25:
        forest = distance_forest(out)
        e_lo, b_lo = out.step_bounds()[0], out.batch_limits()[0]
        spend = _round_costs(out, forest, resources.max_cpu_hz, resources.max_tx_power_w, np.full(n, e_lo), b_lo)
        budget = np.where(rng.random(n) < 0.3, 1.05 * spend.node_energy_j, np.inf)
        out = replace(out, resources=replace(resources, energy_budget_j=budget))
    return out


# --------------------------------------------------------------------------------------------------
# Goals, plan checks and the sections
# --------------------------------------------------------------------------------------------------

@dataclass
class Goal:
    """A goal measured by this benchmark."""

    name: str
    measured: float | str
    target: str
    met: bool

    def line(self) -> str:
        value = f"{self.measured:.5g}" if isinstance(self.measured, float) else str(self.measured)
        return f"GOAL {self.name}: measured {value} (target {self.target}) {'MET' if self.met else 'NOT MET'}"


@dataclass
class Report:
    """Everything measured, for the JSON file."""

    goals: list[Goal] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)

    def goal(self, name: str, measured: float | str, target: str, met: bool) -> None:
        g = Goal(name, measured, target, bool(met))
        self.goals.append(g)
        print(g.line(), flush=True)


def plan_check(problem: SpanningProblem, plan, num_trees: int) -> list[str]:
    """Validity of a plan: forest, degrees, K roots, budgets, objective == evaluate of its resources."""
    errors = check_forest(problem, plan.parent, num_trees)
    if errors:
        return errors
    costs = evaluate(problem, plan.parent, plan.cpu_hz, plan.tx_power_w, plan.local_steps, plan.batch_size,
                     plan.idle_s)
    if not costs.within_budgets(problem):
        errors.append("a satellite exceeds its energy budget")
    if not math.isclose(costs.objective, plan.objective, rel_tol=1e-7, abs_tol=1e-12):
        errors.append(f"plan.objective {plan.objective!r} != evaluate {costs.objective!r}")
    if not (np.allclose(plan.local_steps, np.round(plan.local_steps)) and np.allclose(plan.batch_size, np.round(plan.batch_size))):
        errors.append("non-integral local steps or batch")
    return errors


def on_cadence(problem: SpanningProblem, deadline_s: float | None) -> SpanningProblem:
    """The problem with rounds on a cadence of ``deadline_s`` seconds (``--deadline-s``); unchanged for None."""
    return problem if deadline_s is None else replace(problem, deadline_s=deadline_s)


def run_small(report: Report, count: int, sizes: tuple[int, int], max_forests: int, seed: int,
              options: SolveOptions, workers: int, deadline_s: float | None = None, hardware: str | None = None) -> None:
    """Section a: random small instances against brute force (re-priced on ``hardware`` when given)."""
    on = f" on hardware '{hardware}'" if hardware else ""
    print(f"\n== a. {count} random small instances ({sizes[0]}-{sizes[1]} satellites, K = 1 and 2){on} vs brute force",
          flush=True)
    from concurrent.futures import ProcessPoolExecutor

    rng = np.random.default_rng(seed)
    rows = []
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    for i in range(count):
        n = int(rng.integers(sizes[0], sizes[1] + 1))
        k = 1 + i % 2
        problem = on_cadence(random_instance(rng, n, k, max_forests), deadline_s)
        if hardware:
            problem = with_profile(problem, hardware, rng)
        t0 = time.perf_counter()
        objectives, forests = brute_force(problem, k, pool)
        if not np.isfinite(objectives).any():
            print(f"  #{i:2d} n={n} K={k}: no forest fits the budgets (skipped)", flush=True)
            continue
        brute_s = time.perf_counter() - t0
        best = int(np.argmin(objectives))
        t0 = time.perf_counter()
        try:
            plan = solve(problem, options)
            error = None
        except OptimizationError as exc:
            plan, error = None, f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - t0
        budgets = bool(np.isfinite(problem.resources.energy_budget_j).any())
        row = {"instance": i, "n": n, "k": k, "edges": int(problem.num_edges), "model_bits": problem.model_bits,
               "budgets": budgets, "edge_list": problem.edges.tolist(),
               "distance_km": np.round(problem.distance_km, 3).tolist(),
               "max_rate_bps": problem.max_rate_bps, "terminals": problem.resources.terminals.tolist(),
               "root_eligible": None if problem.root_eligible is None else problem.root_eligible.tolist(),
               "forests": len(forests), "brute_best": objectives[best], "brute_parent": forests[best].tolist(),
               "brute_s": brute_s, "solve_s": wall}
        if plan is None:
            row.update(error=error, gap=math.inf, found=False, valid=False)
        else:
            gap = plan.objective / objectives[best] - 1.0
            errors = plan_check(problem, plan, k)
            refs = [r for r in score_references(problem, reference_forests(problem, k)) if r.within_budgets]
            if refs and plan.objective > refs[0].objective * (1 + 1e-9):
                errors.append(f"beaten by the {refs[0].name} reference tree with the same exact resources")
            row["best_reference"] = refs[0].objective if refs else None
            row.update(objective=plan.objective, gap=gap, found=bool(gap <= 1e-6), source=plan.source,
                       parent=np.asarray(plan.parent).tolist(), valid=not errors, errors=errors)
            if gap < -1e-6:
                row["note"] = "plan beats brute force: optimal_resources is not optimal on the plan's forest"
        rows.append(row)
        flag = "" if row.get("valid") else f"  INVALID {row.get('errors') or row.get('error')}"
        print(f"  #{i:2d} n={n} K={k} E={problem.num_edges:2d} S={problem.model_bits / 1e6:g} Mbit "
              f"cap={problem.max_rate_bps / 1e9:g} Gbit/s{' budgets' if budgets else ''} forests={len(forests):4d}: gap {100 * row['gap']:+.3f} % "
              f"source {row.get('source')} (solve {wall:.2f} s, brute {brute_s:.1f} s){flag}", flush=True)
    if pool is not None:
        pool.shutdown()
    gaps = np.array([r["gap"] for r in rows])
    finite = gaps[np.isfinite(gaps)]
    median = float(np.median(gaps)) if len(gaps) else math.nan
    worst = int(np.argmax(gaps)) if len(gaps) else -1
    found = float(np.mean([r["found"] for r in rows])) if rows else math.nan
    valid = sum(r["valid"] for r in rows)
    report.sections["small"] = {"rows": rows, "median_gap": median, "max_gap": float(gaps.max()) if len(gaps) else None,
                                "found_fraction": found, "valid": valid}
    print(f"  worst: instance #{worst}" if worst >= 0 else "", flush=True)
    report.goal("small median gap", 100 * median, "<= 0.5 %", median <= 0.005)
    cap = 0.005 if hardware else 0.02  # the physical-model issue asks <= 0.5 % on every profile
    report.goal("small max gap", 100 * float(gaps.max()), f"<= {100 * cap:g} %", float(gaps.max()) <= cap)
    beaten = sum(any("reference tree" in e for e in r.get("errors", [])) for r in rows)
    report.goal("small never beaten by a reference tree (SPT, BFS, MST; same exact resources)", f"{beaten} beaten",
                "0", beaten == 0)
    report.goal("small best forest found", found, ">= 0.60", found >= 0.60)
    report.goal("small plans valid", f"{valid}/{len(rows)}", "all", valid == len(rows))
    if len(finite) < len(gaps):
        print(f"  {len(gaps) - len(finite)} instance(s) had no plan", flush=True)


def load_scenario_problem(constellation: Constellation | str, model_bits: float = 1.6e6, max_rate_bps: float = 10e9,
                          skip_bad: bool = False, energy_budget_j: float = math.inf) -> SpanningProblem:
    """The SpanningProblem fedspan builds: knn-8 snapshot at the epoch, every satellite available, 1000 samples
    each, K = the number of connected components."""
    config = ScenarioConfig(link_params=LinkParams(max_rate_bps=max_rate_bps), skip_bad_tles=skip_bad,
                            energy_budget_j=energy_budget_j)
    if isinstance(constellation, str):
        config.constellation = constellation
        scenario = Scenario(config, model_bits)
    else:
        scenario = Scenario(config, model_bits, constellation=constellation)
    snap = scenario.snapshot(0.0)
    n = scenario.num_satellites
    problem, _ = scenario.problem(snap, np.ones(n, bool), np.full(n, 1000.0), 1)
    k = int(component_labels(problem).max()) + 1
    if k != 1:
        problem, _ = scenario.problem(snap, np.ones(n, bool), np.full(n, 1000.0), k)
    return problem


def compare(problem: SpanningProblem, options: SolveOptions, spt_select: str) -> dict[str, Any]:
    """solve() against the best reference, each reference with optimal_resources."""
    k = int(problem.num_trees)
    t0 = time.perf_counter()
    plan = solve(problem, options)
    wall = time.perf_counter() - t0
    errors = plan_check(problem, plan, k)
    t0 = time.perf_counter()
    forests = reference_forests(problem, k, spt_select, library=problem.num_nodes <= 10_000)
    build_s = time.perf_counter() - t0
    scored = score_references(problem, forests)
    best = scored[0] if scored else None
    plan_depth, plan_length = tree_depth_and_length(problem, np.asarray(plan.parent))
    return {
        "n": problem.num_nodes, "edges": int(problem.num_edges), "k": k, "wall_s": wall, "objective": plan.objective,
        "source": plan.source, "status": str(plan.status), "fallback": plan.fallback, "timings": dict(plan.timings),
        "valid": not errors, "errors": errors, "plan_depth": plan_depth, "plan_length_km": plan_length,
        "references": {s.name: {"objective": s.objective, "depth": s.depth, "length_km": s.length_km,
                                "resources_s": s.seconds, "within_budgets": s.within_budgets} for s in scored},
        "reference_build_s": build_s,
        "best_reference": best.name if best else None,
        "best_reference_objective": best.objective if best else math.nan,
        "ratio": plan.objective / best.objective if best else math.nan,
    }


def walker_50k(directory: Path) -> Path:
    """A 50,000-satellite Walker shell (53:50000/100/1, 550 km) written as a TLE file."""
    path = directory / "walker-50000.tle"
    write_tle(path, walker_delta(WalkerSpec(53.0, 50000, 100, 1, 550.0)))
    return path


SIZE_GOALS = {1584: 5.0, 5236: 20.0, 50000: 120.0}


def size_cases(sizes: list[str], tmp: Path) -> Iterator[tuple[str, Callable[[], SpanningProblem | None]]]:
    """(label, problem factory) for each requested size."""
    for size in sizes:
        if size == "66":
            yield "walker 66", lambda: load_scenario_problem(Constellation.from_preset("small"))
        elif size == "264":
            yield "walker 264", lambda: load_scenario_problem(Constellation.from_tles(walker_delta(WalkerSpec(53.0, 264, 12, 1, 550.0))))
        elif size == "1584":
            yield "walker 1584", lambda: load_scenario_problem(Constellation.from_preset("starlink-shell1"))
        elif size == "1584-budget":  # 1.8 mJ a round: below what most satellites spend at the unconstrained optimum
            yield "walker 1584 budget 1.8 mJ", lambda: load_scenario_problem(Constellation.from_preset("starlink-shell1"),
                                                                               energy_budget_j=1.8e-3)
        elif size == "5236":
            tle = SHARED / "starlink-2024-05.tle"
            yield "starlink 5236 (real)", (lambda: load_scenario_problem(str(tle), skip_bad=True)) if tle.is_file() else (lambda: None)
        elif size == "50000":
            yield "walker 50000", lambda: load_scenario_problem(str(walker_50k(tmp)))
        elif size.startswith("walker:"):  # walker:T/P, a 53-degree 550 km shell of T satellites in P planes
            total, planes = (int(v) for v in size.split(":", 1)[1].split("/"))
            yield f"walker {total}", lambda t=total, p=planes: load_scenario_problem(
                Constellation.from_tles(walker_delta(WalkerSpec(53.0, t, p, 1, 550.0))))
        else:
            raise SystemExit(f"unknown size {size!r} (66, 264, 1584, 1584-budget, 5236, 50000 or walker:T/P)")


def run_sizes(report: Report, sizes: list[str], options: SolveOptions, deadline_s: float | None = None) -> None:
    """Section b: scale against the best reference tree."""
    print("\n== b. sizes: solve() against the best of {link-time SPT, BFS, distance MST} with optimal_resources", flush=True)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in size_cases(sizes, Path(tmp)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                problem = make()
            if problem is None:
                print(f"{label}: skipped (file not present)", flush=True)
                continue
            problem = on_cadence(problem, deadline_s)
            select = "objective" if problem.num_nodes <= 2000 else "radius"
            row = compare(problem, options, select)
            rows[label] = row
            print(f"{label}: N={row['n']} E={row['edges']} K={row['k']}", flush=True)
            print(f"  solve {row['wall_s']:.2f} s, objective {row['objective']:.5f}, source {row['source']}, depth "
                  f"{row['plan_depth']}, length {row['plan_length_km']:.0f} km, status {row['status']}, valid "
                  f"{row['valid']}{'' if row['valid'] else ' ' + str(row['errors'])}", flush=True)
            for name, ref in row["references"].items():
                print(f"  {name:24s} objective {ref['objective']:.5f} depth {ref['depth']:3d} length "
                      f"{ref['length_km']:9.0f} km (resources {ref['resources_s']:.2f} s)", flush=True)
            print(f"  Fed-Span / best reference ({row['best_reference']}): {row['ratio']:.4f}", flush=True)
            n = row["n"]
            report.goal(f"{label} objective / best reference", row["ratio"], "<= 1 + 1e-6", row["ratio"] <= 1 + RATIO_TOL)
            report.goal(f"{label} plan valid", "yes" if row["valid"] else "; ".join(row["errors"]), "valid", row["valid"])
            key = {1584: 1584, 50000: 50000}.get(n, 5236 if "real" in label else None) if "budget" not in label else None
            if key in SIZE_GOALS:
                report.goal(f"{label} wall", row["wall_s"], f"<= {SIZE_GOALS[key]:g} s", row["wall_s"] <= SIZE_GOALS[key])
            if n >= 264:
                print(f"  (search's own forest returned: {row['source'] in SEARCH_SOURCES})", flush=True)
    report.sections["sizes"] = rows


def run_regime(report: Report, which: str, payloads: tuple[float, ...], caps: tuple[float, ...],
               options: SolveOptions, images: Path, suffix: str, deadline_s: float | None = None) -> None:
    """Section c: payload x rate cap on one shell."""
    preset = {"shell1": "starlink-shell1", "small": "small"}[which]
    print(f"\n== c. regime table on {preset}: Fed-Span objective / best reference", flush=True)
    constellation = Constellation.from_preset(preset)
    cells = []
    for mbit in payloads:
        for cap in caps:
            problem = on_cadence(load_scenario_problem(constellation, mbit * 1e6, cap), deadline_s)
            select = "objective" if problem.num_nodes <= 2000 else "radius"
            row = compare(problem, options, select)
            best = row["best_reference"]
            ref = row["references"].get(best, {})
            cell = {"payload_mbit": mbit, "rate_cap_bps": cap, "ratio": row["ratio"], "source": row["source"],
                    "wall_s": row["wall_s"], "winner": best, "winner_depth": ref.get("depth"),
                    "winner_length_km": ref.get("length_km"), "plan_depth": row["plan_depth"],
                    "plan_length_km": row["plan_length_km"], "valid": row["valid"], "errors": row["errors"],
                    "objective": row["objective"], "references": row["references"],
                    "comm_heavy": mbit * 1e6 / cap >= COMM_HEAVY_AIRTIME_S}
            cells.append(cell)
            print(f"  {mbit:7g} Mbit x {cap / 1e9:5g} Gbit/s: ratio {row['ratio']:.4f} source {row['source']:12s} "
                  f"winner {best} (depth {ref.get('depth')}, {ref.get('length_km', 0):.0f} km) plan depth "
                  f"{row['plan_depth']} ({row['plan_length_km']:.0f} km), solve {row['wall_s']:.2f} s"
                  f"{'' if row['valid'] else ' INVALID ' + str(row['errors'])}", flush=True)
    report.sections["regime"] = {"preset": preset, "cells": cells}
    worst = max(c["ratio"] for c in cells)
    report.goal(f"regime ({preset}) worst objective / best reference", worst, "<= 1 + 1e-6", worst <= 1 + RATIO_TOL)
    # communication-heavy: airtime of at least 0.1 s a hop
    heavy = [c for c in cells if c["comm_heavy"]]
    if heavy:
        own = sum(c["source"] in SEARCH_SOURCES and c["ratio"] <= 1 + RATIO_TOL for c in heavy)
        report.goal(f"regime ({preset}) communication-heavy cells won by the search's own forest", f"{own}/{len(heavy)}",
                    "all", own == len(heavy))
    valid = sum(c["valid"] for c in cells)
    report.goal(f"regime ({preset}) plans valid", f"{valid}/{len(cells)}", "all", valid == len(cells))
    plot_regime(cells, payloads, caps, preset, images / f"planner-regime{suffix}.png")


def plot_regime(cells: list[dict], payloads, caps, preset: str, path: Path) -> None:
    """Heat map of Fed-Span / best reference with the winning reference and plan.source per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.full((len(payloads), len(caps)), np.nan)
    text = [["" for _ in caps] for _ in payloads]
    for c in cells:
        i, j = payloads.index(c["payload_mbit"]), caps.index(c["rate_cap_bps"])
        grid[i, j] = c["ratio"]
        text[i][j] = (f"{c['ratio']:.4f}\nplan: {c['source']}, depth {c['plan_depth']}\n"
                      f"best ref: {c['winner']}\n(depth {c['winner_depth']}, {c['winner_length_km'] or 0:.0f} km)")
    fig, ax = plt.subplots(figsize=(3.2 * len(caps) + 1.5, 1.5 * len(payloads) + 1.2))
    lim = max(0.05, float(np.nanmax(np.abs(grid - 1))))
    im = ax.imshow(grid, cmap="RdYlGn_r", vmin=1 - lim, vmax=1 + lim, aspect="auto")
    for i in range(len(payloads)):
        for j in range(len(caps)):
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(caps)), [f"{c / 1e9:g} Gbit/s" for c in caps])
    ax.set_yticks(range(len(payloads)), [f"{p:g} Mbit" for p in payloads])
    ax.set_xlabel("laser rate cap")
    ax.set_ylabel("payload (model size)")
    ax.set_title(f"Fed-Span objective / best reference tree (exact resources), {preset}")
    fig.colorbar(im, ax=ax, label="ratio (< 1: Fed-Span better)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"  plot: {path}", flush=True)


def _git_commit() -> str | None:
    """HEAD of the repository the benchmark ran in (with '+dirty' when optimization/ has local changes)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "optimization"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def main(argv: list[str] | None = None) -> int:
    global SPT_ROOTS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="CI size: 8 small instances, sizes 66 and 264, regime cells on the 66 shell")
    parser.add_argument("--instances", type=int, default=None, help="small instances (default 52, quick 8)")
    parser.add_argument("--sizes", default=None, help="comma list of 66,264,1584,1584-budget,5236,50000 or walker:T/P (quick: 66,264; none: skip)")
    parser.add_argument("--regime", choices=("shell1", "small", "none"), default=None)
    parser.add_argument("--payloads", default=None, help="regime payloads in Mbit, comma list (quick: 0.15,1000)")
    parser.add_argument("--caps", default=None, help="regime rate caps in bit/s, comma list (quick: 10e9,100e6)")
    parser.add_argument("--max-forests", type=int, default=None,
                        help="small instances are pruned to at most this many rooted forests (default 200, quick 60)")
    parser.add_argument("--spt-roots", type=int, default=SPT_ROOTS, help="central roots tried by the link-time SPT")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="plan every problem for rounds on a cadence with this deadline in seconds "
                             "(SpanningProblem.deadline_s; e.g. 10 binds on these instances, 600 does not)")
    parser.add_argument("--workers", type=int, default=None, help="processes for the brute force (default: cores)")
    parser.add_argument("--hardware", default=None,
                        help="re-price the small instances on a hardware profile (paper, cubesat, smallsat-edge, ...)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: benchmarks/out/, ignored by git)")
    parser.add_argument("--images", type=Path, default=None, help="regime plot folder (default: the --out folder)")
    parser.add_argument("--publish", action="store_true",
                        help="write the committed benchmarks/results/ and docs/images/ that the docs quote")
    args = parser.parse_args(argv)
    if args.publish and (args.out is not None or args.images is not None):
        parser.error("--publish writes benchmarks/results/ and docs/images/; drop --out/--images")
    # Never the committed folders by accident: a smoke run would overwrite the published numbers.
    args.out = REPO / "benchmarks" / ("results" if args.publish else "out") if args.out is None else args.out
    args.images = (REPO / "docs" / "images" if args.publish else args.out) if args.images is None else args.images
    saved, SPT_ROOTS = SPT_ROOTS, args.spt_roots
    try:
        return _run(args)
    finally:
        SPT_ROOTS = saved


def _run(args: argparse.Namespace) -> int:
    quick = args.quick
    count = args.instances if args.instances is not None else (8 if quick else 52)
    sizes = (args.sizes or ("66,264" if quick else "66,264,1584,1584-budget,5236,50000")).split(",")
    sizes = [s for s in sizes if s and s != "none"]
    regime = args.regime or ("small" if quick else "shell1")
    payloads = (0.15, 1000.0) if quick else PAYLOADS_MBIT
    caps = (10e9, 100e6) if quick else RATE_CAPS_BPS
    if args.payloads:
        payloads = tuple(float(v) for v in args.payloads.split(","))
    if args.caps:
        caps = tuple(float(v) for v in args.caps.split(","))
    suffix = (("-quick" if quick else "") + (f"-deadline{args.deadline_s:g}s" if args.deadline_s else "")
              + (f"-{args.hardware}" if args.hardware else ""))
    options = SolveOptions()
    report = Report()
    begin = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    commit = _git_commit()
    print(f"cores: {os.cpu_count()}, load average at start: {load:.1f}, quick: {quick}", flush=True)
    if count:
        workers = args.workers or os.cpu_count() or 1
        max_forests = args.max_forests or (60 if quick else 200)
        run_small(report, count, (6, 7) if quick else (6, 9), max_forests, args.seed, options, workers,
                  args.deadline_s, args.hardware)
    if sizes:
        run_sizes(report, sizes, options, args.deadline_s)
    if regime != "none":
        run_regime(report, regime, payloads, caps, options, args.images, suffix, args.deadline_s)
    elapsed = time.perf_counter() - begin
    print("\n== goals", flush=True)
    for g in report.goals:
        print(g.line())
    met = sum(g.met for g in report.goals)
    print(f"{met}/{len(report.goals)} goals met in {elapsed:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"planner{suffix}.json"
    payload = {"quick": quick, "deadline_s": args.deadline_s, "commit": commit, "cores": os.cpu_count(), "load_average_at_start": load,
               "load_average_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None, "seconds": elapsed, "sizes": sizes, "regime": regime,
               "goals": [g.__dict__ for g in report.goals], **report.sections}
    out.write_text(json.dumps(json_safe(payload), indent=1))
    print(f"results: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
