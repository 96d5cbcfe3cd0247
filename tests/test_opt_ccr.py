"""CCR exactness by brute force: integral CCR points are exactly the spanning forests with K roots."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from optimization import SatelliteResources, SpanningProblem
from optimization.ccr import has_depth_labels, linear_ccr_mask, parent_from_point


def _graph(n: int, p: float, seed: int, terminals: int) -> SpanningProblem:
    rng = np.random.default_rng(seed)
    pairs = np.array([(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < p] or [(0, 1)])
    d = rng.uniform(100, 3000, len(pairs))
    return SpanningProblem(n, pairs, d, 1e9 / d, resources=SatelliteResources.uniform(n, terminals=terminals))


def _forests_by_enumeration(problem: SpanningProblem, k: int) -> set[tuple[int, ...]]:
    """Every rooted spanning forest with k trees and degrees <= terminals, via networkx, as parent tuples."""
    n = problem.num_nodes
    found = set()
    for subset in itertools.combinations(range(problem.num_edges), n - k):
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(problem.edges[list(subset)].tolist())
        if not nx.is_forest(g) or any(d > problem.resources.terminals[v] for v, d in g.degree()):
            continue
        trees = [sorted(c) for c in nx.connected_components(g)]
        for roots in itertools.product(*trees):
            parent = [-1] * n
            for root in roots:
                for child, par in nx.bfs_predecessors(g, root):
                    parent[child] = par
            found.add(tuple(parent))
    return found


def _ccr_points(problem: SpanningProblem, k: int) -> set[tuple[int, ...]]:
    """Every integral (x, r) satisfying the CCRs, by enumerating all 0/1 vectors."""
    a, n = 2 * problem.num_edges, problem.num_nodes
    points = set()
    for start in range(0, 2 ** (a + n), 2**16):
        codes = np.arange(start, min(start + 2**16, 2 ** (a + n)))
        bits = ((codes[:, None] >> np.arange(a + n)) & 1).astype(float)
        x, r = bits[:, :a], bits[:, a:]
        keep = np.flatnonzero(linear_ccr_mask(problem, k, x, r))
        points |= {tuple(parent_from_point(problem, x[i])) for i in keep if has_depth_labels(problem, x[i])}
    return points


@pytest.mark.parametrize(
    ("n", "p", "seed", "k", "terminals"),
    [(4, 0.9, 0, 1, 4), (5, 0.6, 1, 1, 4), (5, 0.6, 2, 2, 4), (5, 0.7, 3, 1, 2), (6, 0.45, 4, 2, 3), (4, 1.0, 5, 3, 4)],
)
def test_integral_ccr_points_are_exactly_the_rooted_forests(n, p, seed, k, terminals):
    problem = _graph(n, p, seed, terminals)
    assert 2 * problem.num_edges + n <= 21, "keep the enumeration small"
    expected = _forests_by_enumeration(problem, k)
    assert _ccr_points(problem, k) == expected


def test_depth_labels_reject_a_directed_cycle():
    problem = _graph(3, 1.0, 0, 4)  # triangle 0-1-2
    from optimization.formulation import Arcs

    arcs = Arcs.all_of(problem)
    cycle = {(0, 1), (1, 2), (2, 0)}
    x = np.array([(t, h) in cycle for t, h in zip(arcs.tail, arcs.head)], float)
    assert not has_depth_labels(problem, x)
    path = {(0, 1), (1, 2)}
    assert has_depth_labels(problem, np.array([(t, h) in path for t, h in zip(arcs.tail, arcs.head)], float))
