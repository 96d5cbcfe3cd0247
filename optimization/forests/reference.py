"""Reference and warm-start forests: the distance forest, a random forest and the hop-count BFS forest."""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from optimization.problem import SpanningProblem
from optimization.forests.basics import edge_lookup, resolve_trees
from optimization.forests.kruskal import _finish_forest, kruskal_forest


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
    """Hop-count breadth-first forest grown from the distance forest's roots, respecting degrees (a baseline).

    When the terminal limits stop the growth short, the grown trees are completed by the repair of
    `degree_feasible_forest` (edges ranked by hop level) and rooted at their hop centres.
    """
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
        # Degree-tight: keep what grew, join the rest by the repair (edges ranked by hop level from the roots).
        kids = np.flatnonzero(parent >= 0)
        in_tree = np.zeros(problem.num_edges, bool)
        in_tree[edge_lookup(problem, kids, parent[kids])] = True
        graph = coo_matrix((np.ones(problem.num_edges), (problem.edges[:, 0], problem.edges[:, 1])), shape=(n, n)).tocsr()
        hops = dijkstra(graph, directed=False, indices=roots, unweighted=True, min_only=True)
        hops = np.where(np.isfinite(hops), hops, n)
        level = np.maximum(hops[problem.edges[:, 0]], hops[problem.edges[:, 1]])
        weights = level + problem.distance_km / (problem.distance_km.max() * 2.0 + 1.0)
        return _finish_forest(problem, k, weights, level + 1.0, in_tree, "breadth-first growth")
    return parent
