"""Forest recognition and helpers: edge lookup, components, depths, validation, degrees, re-rooting,
orientation, tree counts."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from optimization.errors import DisconnectedGraphError, InvalidForestError, RootEligibilityError
from optimization.problem import SpanningProblem, fixed_tree_count


def find_edges(edges: np.ndarray, num_nodes: int, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of each undirected pair ``(u, v)`` in the sorted candidate ``edges`` (E, 2) and whether it is there.

    The one edge lookup: a binary search on the keys ``a * N + b`` of the canonical ``a < b`` rows.

    >>> find_edges(np.array([[0, 1], [1, 2]]), 3, np.array([2, 0]), np.array([1, 2]))
    (array([1, 1]), array([ True, False]))
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    keys = edges[:, 0] * num_nodes + edges[:, 1]
    lo, hi = np.minimum(u, v).astype(np.int64), np.maximum(u, v).astype(np.int64)
    want = lo * num_nodes + hi
    pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
    found = (keys[pos] == want) if len(keys) else np.zeros(len(want), bool)
    return pos, found


def edge_lookup(problem: SpanningProblem, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index of the undirected candidate edge {a, b} for each pair, -1 where it is not a candidate."""
    pos, found = find_edges(problem.edges, problem.num_nodes, a, b)
    return np.where(found, pos, -1)


def reroot(parent: np.ndarray, new_root: int) -> np.ndarray:
    """The same tree hung from ``new_root``: a copy with the parent pointers on its path to the old root reversed.

    >>> reroot(np.array([-1, 0, 1]), 2)
    array([ 1,  2, -1])
    """
    out = parent.copy()
    prev, node = -1, int(new_root)
    while node >= 0:
        nxt = int(parent[node])
        out[node] = prev
        prev, node = node, nxt
    return out


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


def _forest_labels(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component label of every node of the graph on `edges`."""
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


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


def component_count(problem: SpanningProblem) -> int:
    """Number of connected components of the candidate graph: the fewest trees a spanning forest can have."""
    return int(components(problem).max()) + 1


def resolve_trees(problem: SpanningProblem) -> int:
    """The fixed number of trees, or the component count when `num_trees` is 'auto'.

    The one reading of 'auto' for the reference forests (`distance_forest`, `bfs_forest`, `random_forest`
    with no `num_trees`); the planner's 'auto' searches from `component_count` upwards
    (`optimization.planner.choose_num_trees`).
    """
    fixed = fixed_tree_count(problem.num_trees)
    return component_count(problem) if fixed is None else fixed
