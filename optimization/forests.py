"""Spanning forests over the candidate graph: validation, levels, Kruskal with degrees and roots, baselines."""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from optimization.errors import (
    DegreeInfeasibleError,
    DisconnectedGraphError,
    InvalidForestError,
    RootEligibilityError,
)
from optimization.problem import SpanningProblem


def edge_lookup(problem: SpanningProblem, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index of the undirected candidate edge {a, b} for each pair, -1 where it is not a candidate."""
    n = problem.num_nodes
    keys = problem.edges[:, 0] * n + problem.edges[:, 1]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    query = lo * n + hi
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    found = (len(keys) > 0) & (keys[pos] == query) if len(keys) else np.zeros(len(query), bool)
    return np.where(found, pos, -1)


def components(problem: SpanningProblem) -> np.ndarray:
    """Connected-component label of every satellite in the candidate graph."""
    n, e = problem.num_nodes, problem.edges
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def forest_depths(parent: np.ndarray) -> np.ndarray:
    """Depth of every node (roots 0) of a valid forest, by one BFS from a virtual super-root."""
    n = len(parent)
    kids = np.flatnonzero(parent >= 0)
    roots = np.flatnonzero(parent < 0)
    rows = np.concatenate([parent[kids], np.full(len(roots), n)])
    cols = np.concatenate([kids, roots])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    dist = dijkstra(graph, directed=True, indices=n, unweighted=True)
    return dist[:n] - 1.0


def validate_forest(problem: SpanningProblem, parent: np.ndarray, *, check_degree: bool = False) -> np.ndarray:
    """Check `parent` is a spanning forest over candidate edges; return the edge index of each child's uplink (-1 at roots)."""
    n = problem.num_nodes
    parent = np.asarray(parent)
    if parent.shape != (n,) or not np.issubdtype(parent.dtype, np.integer):
        raise InvalidForestError(f"parent: expected {n} integers, got shape {parent.shape} dtype {parent.dtype}")
    bad = (parent < -1) | (parent >= n) | (parent == np.arange(n))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidForestError(f"parent[{i}] = {parent[i]} is not -1 or another satellite's index")
    kids = np.flatnonzero(parent >= 0)
    uplink = np.full(n, -1)
    uplink[kids] = edge_lookup(problem, kids, parent[kids])
    missing = kids[uplink[kids] < 0]
    if len(missing):
        i = int(missing[0])
        raise InvalidForestError(f"parent[{i}] = {parent[i]}: ({i}, {parent[i]}) is not a candidate edge")
    depth = forest_depths(parent)
    if not np.isfinite(depth).all():
        i = int(np.flatnonzero(~np.isfinite(depth))[0])
        raise InvalidForestError(f"satellite {i} does not reach a root: parent array has a cycle")
    if check_degree:
        deg = tree_degrees(parent)
        over = deg > problem.resources.terminals
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise InvalidForestError(f"satellite {i} has tree degree {deg[i]} > terminals {problem.resources.terminals[i]}")
    return uplink


def tree_degrees(parent: np.ndarray) -> np.ndarray:
    """Number of tree links (children plus parent) at each node."""
    n = len(parent)
    kids = parent >= 0
    return np.bincount(parent[kids], minlength=n) + kids.astype(int)


class _UnionFind:
    """Disjoint sets with path halving (Kruskal's bookkeeping)."""

    def __init__(self, n: int) -> None:
        self.up = list(range(n))

    def find(self, a: int) -> int:
        up = self.up
        while up[a] != a:
            up[a] = up[up[a]]
            a = up[a]
        return a

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.up[ra] = rb
        return True


def check_roots_possible(problem: SpanningProblem, num_trees: int) -> None:
    """Raise a specific error when `num_trees` trees cannot cover the candidate graph."""
    labels = components(problem)
    count = int(labels.max()) + 1
    if num_trees < count:
        isolated = np.flatnonzero(np.bincount(labels)[labels] == 1)
        extra = f"; satellite {int(isolated[0])} has no candidate edge" if len(isolated) else ""
        raise DisconnectedGraphError(
            f"the candidate graph has {count} connected components but num_trees = {num_trees}{extra}; "
            f"use num_trees >= {count} or 'auto'"
        )
    if problem.root_eligible is not None:
        has_root = np.bincount(labels, weights=problem.root_eligible.astype(float), minlength=count) > 0
        if not has_root.all():
            c = int(np.flatnonzero(~has_root)[0])
            members = np.flatnonzero(labels == c)
            raise RootEligibilityError(
                f"component of satellite {int(members[0])} ({len(members)} satellites) has no root-eligible satellite"
            )


def kruskal_forest(
    problem: SpanningProblem,
    weights: np.ndarray,
    num_trees: int,
    *,
    root_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Minimum-weight spanning forest with `num_trees` trees, degree <= terminals, a root-eligible root per tree.

    Exact without binding degrees or root eligibility (MST minus its heaviest edges); a greedy
    heuristic otherwise. Roots are the eligible tree centres under `root_weights` (default `weights`).
    """
    check_roots_possible(problem, num_trees)
    n = problem.num_nodes
    order = np.lexsort((np.arange(len(weights)), weights))
    chosen = _degree_kruskal(problem, order)
    chosen = _split_to_trees(problem, chosen, weights, num_trees)
    w_root = weights if root_weights is None else root_weights
    return orient_forest(n, problem.edges[chosen], w_root[chosen], problem.root_eligible)


def _degree_kruskal(problem: SpanningProblem, order: np.ndarray) -> np.ndarray:
    """Kruskal over `order` skipping edges at saturated endpoints; raises if degrees leave extra components."""
    n = problem.num_nodes
    cap = problem.resources.terminals.tolist()
    deg = [0] * n
    uf = _UnionFind(n)
    chosen: list[int] = []
    edges = problem.edges.tolist()
    target = n - (int(components(problem).max()) + 1)
    for idx in order.tolist():
        a, b = edges[idx]
        if deg[a] < cap[a] and deg[b] < cap[b] and uf.union(a, b):
            deg[a] += 1
            deg[b] += 1
            chosen.append(idx)
            if len(chosen) == target:
                break
    if len(chosen) < target:
        raise DegreeInfeasibleError(
            f"degree-limited Kruskal joined only {len(chosen)} of {target} edges needed: "
            f"terminal counts (min {min(cap)}) leave the candidate graph split; raise terminals or num_trees"
        )
    return np.array(chosen, dtype=np.int64)


def _split_to_trees(problem: SpanningProblem, chosen: np.ndarray, weights: np.ndarray, num_trees: int) -> np.ndarray:
    """Drop the heaviest tree edges until `num_trees` trees remain, each keeping a root-eligible node."""
    n = problem.num_nodes
    extra = num_trees - (n - len(chosen))
    if extra <= 0:
        return chosen
    eligible = problem.root_eligible if problem.root_eligible is not None else np.ones(n, bool)
    keep = np.ones(len(chosen), bool)
    for pos in np.argsort(-weights[chosen], kind="stable"):
        if extra == 0:
            break
        keep[pos] = False
        e = problem.edges[chosen[keep]]
        adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        labels = connected_components(adj, directed=False)[1]
        a, b = problem.edges[chosen[pos]]
        ok = eligible[labels == labels[a]].any() and eligible[labels == labels[b]].any()
        if ok:
            extra -= 1
        else:
            keep[pos] = True
    if extra:
        raise RootEligibilityError(f"cannot split the forest into {num_trees} trees each holding a root-eligible satellite")
    return chosen[keep]


def orient_forest(
    n: int, tree_edges: np.ndarray, edge_weights: np.ndarray, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Parent array of an undirected forest, rooting each tree at its eligible node of least eccentricity."""
    tree_edges = np.asarray(tree_edges).reshape(-1, 2)
    w = np.maximum(np.asarray(edge_weights, float), 1e-12)
    graph = coo_matrix((w, (tree_edges[:, 0], tree_edges[:, 1])), shape=(n, n)).tocsr()
    labels = connected_components(graph, directed=False)[1]
    ok = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
    # Eccentricity in a tree: max distance to the two ends of a diameter (two sweeps per tree, all trees at once).
    first = _farthest_per_tree(graph, labels, _any_per_tree(labels))
    second = _farthest_per_tree(graph, labels, first)
    ecc = np.maximum(_dist_from(graph, first, labels), _dist_from(graph, second, labels))
    ecc = np.where(ok, ecc, np.inf)
    roots = np.full(labels.max() + 1, -1)
    order = np.lexsort((ecc, labels))
    first_pos = np.r_[0, np.flatnonzero(np.diff(labels[order])) + 1]
    roots = order[first_pos]
    if not ok[roots].all():
        raise RootEligibilityError(f"tree of satellite {int(roots[~ok[roots]][0])} has no root-eligible satellite")
    _, pred, _ = dijkstra(graph, directed=False, indices=roots, return_predecessors=True, min_only=True)
    parent = np.where(pred < 0, -1, pred).astype(np.int64)
    parent[roots] = -1
    return parent


def _any_per_tree(labels: np.ndarray) -> np.ndarray:
    """One node per tree (the lowest index)."""
    return np.unique(labels, return_index=True)[1]


def _dist_from(graph, sources: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Distance of every node from its own tree's source."""
    return dijkstra(graph, directed=False, indices=sources, min_only=True)


def _farthest_per_tree(graph, labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """For each tree, the node farthest from that tree's source."""
    dist = _dist_from(graph, sources, labels)
    order = np.lexsort((-dist, labels))
    first_pos = np.r_[0, np.flatnonzero(np.diff(labels[order])) + 1]
    return order[first_pos]


def resolve_trees(problem: SpanningProblem) -> int:
    """The fixed number of trees, or the component count when `num_trees` is 'auto'."""
    if problem.num_trees == "auto":
        return int(components(problem).max()) + 1
    return int(problem.num_trees)


def distance_forest(problem: SpanningProblem, num_trees: int | None = None) -> np.ndarray:
    """Distance-minimum spanning forest (degree-limited), the warm start of the planner."""
    k = resolve_trees(problem) if num_trees is None else num_trees
    return kruskal_forest(problem, problem.distance_km, k)


def random_forest(problem: SpanningProblem, num_trees: int | None = None, seed: int = 0) -> np.ndarray:
    """Spanning forest on random edge weights (a baseline)."""
    k = resolve_trees(problem) if num_trees is None else num_trees
    w = np.random.default_rng(seed).random(problem.num_edges)
    return kruskal_forest(problem, w, k, root_weights=problem.distance_km)


def bfs_forest(problem: SpanningProblem, num_trees: int | None = None) -> np.ndarray:
    """Hop-count breadth-first forest grown from the distance forest's roots, respecting degrees (a baseline)."""
    k = resolve_trees(problem) if num_trees is None else num_trees
    roots = np.flatnonzero(distance_forest(problem, k) < 0)
    n = problem.num_nodes
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in problem.edges.tolist():
        nbrs[a].append(b)
        nbrs[b].append(a)
    cap = problem.resources.terminals
    deg = np.zeros(n, int)
    parent = np.full(n, -2)
    parent[roots] = -1
    queue = deque(roots.tolist())
    while queue:
        u = queue.popleft()
        for v in nbrs[u]:
            if parent[v] == -2 and deg[u] < cap[u]:
                parent[v] = u
                deg[u] += 1
                deg[v] += 1
                queue.append(v)
    if (parent == -2).any():
        i = int(np.flatnonzero(parent == -2)[0])
        raise DegreeInfeasibleError(f"breadth-first growth left satellite {i} unreached under the terminal limits")
    return parent
