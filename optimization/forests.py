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


def kruskal_forest(
    problem: SpanningProblem,
    weights: np.ndarray,
    num_trees: int,
    *,
    root_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Minimum-weight spanning forest with `num_trees` trees, degree <= terminals, a root-eligible root per tree.

    Exact without binding degrees or root eligibility (MST minus its heaviest edges); otherwise the
    greedy degree-limited Kruskal, repaired by `degree_feasible_forest` when the greedy leaves too many trees.
    Roots are the eligible tree centres under `root_weights` (default `weights`).

    Returns the parent of each satellite (-1 at a root).

    Examples
    --------
    >>> import numpy as np
    >>> from optimization import SpanningProblem
    >>> edges, km = np.array([[0, 1], [1, 2], [2, 3], [0, 3]]), np.array([900.0, 1200, 800, 1500])
    >>> p = SpanningProblem(4, edges, km, [1e10] * 4)
    >>> kruskal_forest(p, km, 1).tolist()  # the MST drops the 1500 km link
    [-1, 0, 1, 0]
    >>> kruskal_forest(p, km, 2).tolist()  # two trees: the MST minus its heaviest edge (1200 km)
    [1, -1, 1, -1]

    References
    ----------
    .. [1] J. B. Kruskal, "On the shortest spanning subtree of a graph and the traveling salesman
       problem", Proceedings of the American Mathematical Society 7(1), 48-50, 1956.
    .. [2] S. C. Narula and C. A. Ho, "Degree-constrained minimum spanning tree", Computers &
       Operations Research 7(4), 239-249, 1980.
    """
    return degree_feasible_forest(problem, num_trees, weights, root_weights)


def degree_feasible_forest(
    problem: SpanningProblem,
    num_trees: int,
    weights: np.ndarray,
    root_weights: np.ndarray | None = None,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Parent array of a spanning forest with exactly `num_trees` trees and tree degree <= terminals.

    Each tree holds a root-eligible satellite when `problem.root_eligible` is set; low-`weights` edges
    are preferred. Strategies, in order, each only when the previous one left too many trees:

    1. greedy degree-limited Kruskal (exact: the MST minus its heaviest edges when degrees do not bind);
    2. repair (`_repair_forest`): join the greedy's trees with the cheapest edges regardless of degree,
       spend the allowed extra trees on over-full satellites, then Fürer–Raghavachari swaps (add a
       non-tree edge between two branches of an over-full satellite, drop that satellite's edge into
       one of them), moving the excess to a saturated satellite when no swap fixes it outright;
    3. when every satellite has >= 2 terminals: a Hamiltonian path per remaining component
       (Warnsdorff-ordered extension with Pósa rotations, several restarts), split into trees.

    Splitting a tree into more trees (dropping its heaviest removable edges) never raises a degree.
    Raises `DegreeInfeasibleError` saying what was tried and, where it can be shown, why no such
    forest exists (a satellite whose removal splits its component into more parts than it has
    terminals; the degree sum of a component).
    """
    check_roots_possible(problem, num_trees)
    weights = np.asarray(weights, float)
    order = np.lexsort((np.arange(len(weights)), weights))
    in_tree = _mst_if_degrees_hold(problem, order)
    if in_tree is None:
        in_tree = _greedy_degree_kruskal(problem, order)
    return _finish_forest(problem, num_trees, weights, root_weights, in_tree, "greedy degree-limited Kruskal", seed)


def _finish_forest(problem: SpanningProblem, num_trees: int, weights: np.ndarray, root_weights: np.ndarray | None,
                   in_tree: np.ndarray, source: str, seed: int = 0) -> np.ndarray:
    """Repair a degree-feasible forest (tree-edge mask) to `num_trees` trees, split, orient."""
    order = np.lexsort((np.arange(len(weights)), weights))
    trees = problem.num_nodes - int(in_tree.sum())
    if trees > num_trees or not _every_tree_eligible(problem, in_tree):
        in_tree = _repair_forest(problem, in_tree, weights, num_trees, f"{source} left {trees} trees", seed)
    extra = num_trees - (problem.num_nodes - int(in_tree.sum()))
    if _split_forest(problem, in_tree, order[::-1], extra) < extra:
        raise RootEligibilityError(f"cannot split the forest into {num_trees} trees each holding a root-eligible satellite")
    chosen = np.flatnonzero(in_tree)
    w_root = weights if root_weights is None else np.asarray(root_weights, float)
    return orient_forest(problem.num_nodes, problem.edges[chosen], w_root[chosen], problem.root_eligible)


def _every_tree_eligible(problem: SpanningProblem, in_tree: np.ndarray) -> bool:
    """Whether each tree of the forest holds a root-eligible satellite."""
    if problem.root_eligible is None:
        return True
    labels = _forest_labels(problem.num_nodes, problem.edges[in_tree])
    return bool((np.bincount(labels, weights=problem.root_eligible.astype(float)) > 0).all())


def _mst_if_degrees_hold(problem: SpanningProblem, order: np.ndarray) -> np.ndarray | None:
    """The Kruskal forest over `order` (scipy, on ranks: distinct positive weights) if it respects every
    terminal count, else None. When it does, the degree-limited greedy picks exactly these edges, since
    no degree check can bind along the way."""
    n, m = problem.num_nodes, problem.num_edges
    if m == 0:
        return np.zeros(0, bool)
    from scipy.sparse.csgraph import minimum_spanning_tree

    rank = np.empty(m)
    rank[order] = np.arange(1, m + 1, dtype=float)
    e = problem.edges
    mst = minimum_spanning_tree(coo_matrix((rank, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()).tocoo()
    in_tree = np.zeros(m, bool)
    in_tree[order[mst.data.astype(np.int64) - 1]] = True
    deg = np.bincount(e[in_tree].ravel(), minlength=n)
    return in_tree if (deg <= problem.resources.terminals).all() else None


def _greedy_degree_kruskal(problem: SpanningProblem, order: np.ndarray, cap: np.ndarray | None = None) -> np.ndarray:
    """Kruskal over `order`, skipping edges at satellites whose terminals (`cap`) are all used; a tree-edge mask."""
    n = problem.num_nodes
    cap = (problem.resources.terminals if cap is None else cap).tolist()
    deg = [0] * n
    uf = _UnionFind(n)
    in_tree = np.zeros(problem.num_edges, bool)
    edges = problem.edges.tolist()
    target = n - (int(components(problem).max()) + 1)
    count = 0
    for idx in order.tolist():
        a, b = edges[idx]
        if deg[a] < cap[a] and deg[b] < cap[b] and uf.union(a, b):
            deg[a] += 1
            deg[b] += 1
            in_tree[idx] = True
            count += 1
            if count == target:
                break
    return in_tree


def _forest_labels(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component label of every node of the graph on `edges`."""
    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def _split_forest(problem: SpanningProblem, in_tree: np.ndarray, candidates: np.ndarray, count: int) -> int:
    """Drop up to `count` tree edges (in place), trying `candidates` in order; each tree keeps a root-eligible node.

    Returns how many were dropped. Dropping an edge never raises a degree. An edge whose removal would
    leave a tree without an eligible satellite stays invalid after later removals, so one pass suffices.
    """
    if count <= 0:
        return 0
    candidates = np.asarray(candidates)
    candidates = candidates[in_tree[candidates]]
    if problem.root_eligible is None:
        drop = candidates[:count]
        in_tree[drop] = False
        return len(drop)
    n = problem.num_nodes
    eligible = np.asarray(problem.root_eligible, bool)
    removed = 0
    pos = 0
    while removed < count and pos < len(candidates):
        parent, below, total = _eligible_below(n, problem.edges[in_tree], eligible)
        while pos < len(candidates):
            e = int(candidates[pos])
            pos += 1
            a, b = problem.edges[e]
            child = a if parent[a] == b else b
            if below[child] > 0 and total[child] - below[child] > 0:
                in_tree[e] = False
                removed += 1
                break
    return removed


def _eligible_below(n: int, tree_edges: np.ndarray, eligible: np.ndarray):
    """Root each tree at an eligible node (else its lowest index): parent, eligible count below each node, tree total."""
    labels = _forest_labels(n, tree_edges)
    order = np.lexsort((~eligible, labels))
    first = np.r_[0, np.flatnonzero(np.diff(labels[order])) + 1]
    roots = order[first]
    graph = coo_matrix((np.ones(len(tree_edges)), (tree_edges[:, 0], tree_edges[:, 1])), shape=(n, n)).tocsr()
    dist, pred = dijkstra(graph, directed=False, indices=roots, unweighted=True, return_predecessors=True,
                          min_only=True)[:2]
    parent = np.where(pred < 0, -1, pred)
    below = eligible.astype(np.int64)
    par = parent.tolist()
    acc = below.tolist()
    for v in np.argsort(-dist, kind="stable").tolist():
        p = par[v]
        if p >= 0:
            acc[p] += acc[v]
    below = np.asarray(acc, np.int64)
    total = np.bincount(labels, weights=eligible.astype(float)).astype(np.int64)[labels]
    return parent, below, total


def _min_trees(problem: SpanningProblem) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Per component, a lower bound on the trees any degree-feasible spanning forest needs; the reasons
    that raise it above 1; and per satellite the number of parts its component falls into without it.

    Per component: 1 + (parts of the component without satellite u) - terminals(u) for every u, and
    n_c - (sum of min(terminals, candidate degree)) / 2 (a forest of t trees has n_c - t edges).
    """
    import networkx as nx

    n = problem.num_nodes
    cap = problem.resources.terminals
    labels = components(problem)
    count = int(labels.max()) + 1
    gdeg = np.bincount(problem.edges.ravel(), minlength=n)
    size = np.bincount(labels, minlength=count)
    usable = np.bincount(labels, weights=np.minimum(cap, gdeg), minlength=count)
    need = np.maximum(1, np.ceil(size - usable / 2.0 - 1e-9)).astype(int)
    reasons: list[str] = []
    for c in np.flatnonzero(need > 1):
        reasons.append(f"the component of satellite {int(np.flatnonzero(labels == c)[0])} ({size[c]} satellites) "
                       f"has only {int(usable[c])} usable terminal ends, so it needs at least {need[c]} trees")
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(problem.edges.tolist())
    blocks = np.zeros(n, int)
    for block in nx.biconnected_components(g):
        blocks[list(block)] += 1
    over = blocks - cap
    for c in range(count):
        members = np.flatnonzero((labels == c) & (over > 0))
        if len(members):
            u = int(members[np.argmax(over[members])])
            if 1 + over[u] > need[c]:
                need[c] = 1 + over[u]
                reasons.append(f"satellite {u} is the only link between {blocks[u]} parts of its component but has "
                               f"{cap[u]} terminals, so that component needs at least {need[c]} trees")
    return need, reasons, blocks


def _repair_forest(problem: SpanningProblem, in_tree: np.ndarray, weights: np.ndarray, num_trees: int,
                   tried: str, seed: int) -> np.ndarray:
    """Turn a degree-feasible forest with too many trees into one with at most `num_trees` trees (a new mask)."""
    n = problem.num_nodes
    cap = problem.resources.terminals.astype(np.int64)
    labels = components(problem)
    comps = int(labels.max()) + 1
    need, reasons, blocks = _min_trees(problem)
    if need.sum() > num_trees:
        raise DegreeInfeasibleError(
            f"no spanning forest of {num_trees} tree(s) respects the terminal limits: {'; '.join(reasons)} "
            f"(at least {int(need.sum())} trees in all; {tried}); raise terminals or num_trees")
    in_tree = in_tree.copy()
    # Join the greedy's trees with the cheapest edges, least over-full endpoints first: one tree per component.
    deg = np.bincount(problem.edges[in_tree].ravel(), minlength=n)
    full = (deg[problem.edges] >= cap[problem.edges]).sum(axis=1)
    rest = np.flatnonzero(~in_tree)
    rest = rest[np.lexsort((rest, weights[rest], full[rest]))]
    uf = _UnionFind(n)
    for a, b in problem.edges[in_tree].tolist():
        uf.union(a, b)
    edges = problem.edges.tolist()
    for idx in rest.tolist():
        a, b = edges[idx]
        if uf.union(a, b):
            in_tree[idx] = True
    deg = np.bincount(problem.edges[in_tree].ravel(), minlength=n)
    # Extra trees go first to satellites no spanning tree can relieve (more parts than terminals),
    # then swaps, then extra trees at whatever is still over-full.
    spare = num_trees - comps
    spare -= _split_over_full(problem, in_tree, deg, cap, weights, spare, blocks > cap)
    excess0 = int(np.maximum(deg - cap, 0).sum())
    if cap.max() > 2 or n <= _SWAP_PATHS_UP_TO:
        # With at most 2 terminals the forest is a set of paths: beyond a few hundred satellites the path
        # search below is far faster than swaps moving the excess around one satellite at a time.
        steps = _swap_repair(problem, in_tree, deg, cap, weights, seed)
        excess = int(np.maximum(deg - cap, 0).sum())
        tried += f"; {steps} Fürer–Raghavachari swaps left a degree excess of {excess} of {excess0}"
    spare -= _split_over_full(problem, in_tree, deg, cap, weights, spare, np.ones(n, bool))
    if (deg <= cap).all():
        return in_tree
    # Replace every still over-full tree by a Hamiltonian path of its component (needs >= 2 terminals).
    failed: list[str] = []
    fragments = np.flatnonzero(_greedy_degree_kruskal(
        problem, np.lexsort((np.arange(len(weights)), weights)), np.minimum(cap, 2)))
    for c in np.unique(labels[deg > cap]).tolist():
        nodes = np.flatnonzero(labels == c)
        low = nodes[np.argmin(cap[nodes])]
        if cap[low] < 2:
            failed.append(f"no Hamiltonian-path fallback in the component of satellite {nodes[0]} "
                          f"(satellite {low} has {cap[low]} terminal)")
            continue
        path = _hamiltonian_path(problem, nodes, weights, _HAM_RESTARTS, seed, fragments)
        paths = None if path is None else [path]
        if paths is None:
            # The extra trees still unused may let this component be covered by several paths.
            inside = labels[problem.edges[:, 0]] == c
            others = (n - int(in_tree.sum())) - (len(nodes) - int(in_tree[inside].sum()))
            paths = _path_cover(problem, nodes, weights, num_trees - others, seed)
            if paths is None:
                failed.append(f"no Hamiltonian path found by {_HAM_RESTARTS} Warnsdorff restarts with Pósa "
                              f"rotations in the component of satellite {nodes[0]} ({len(nodes)} satellites), "
                              f"nor a cover by {max(num_trees - others, 1)} paths")
                continue
        in_tree[labels[problem.edges[:, 0]] == c] = False
        for path in paths:
            if len(path) > 1:
                in_tree[edge_lookup(problem, np.asarray(path[:-1]), np.asarray(path[1:]))] = True
        deg[nodes] = np.bincount(problem.edges[in_tree].ravel(), minlength=n)[nodes]
    if not failed:
        return in_tree
    if n <= _MILP_MAX_NODES and problem.num_edges <= _MILP_MAX_EDGES:
        status, exact = _milp_forest(problem, num_trees, weights, _MILP_TIME_S)
        if exact is not None:
            return exact
        if status == "infeasible":
            raise DegreeInfeasibleError(
                f"no spanning forest of {num_trees} tree(s) respects the terminal limits (terminals "
                f"{int(cap.min())}..{int(cap.max())}): an exact MILP (HiGHS) proved it infeasible after {tried}; "
                f"{'; '.join(failed)}; raise terminals or num_trees")
        failed.append(f"the exact MILP stopped without an answer ({status})")
    over = np.flatnonzero(deg > cap)
    u = int(over[np.argmax(deg[over] - cap[over])])
    raise DegreeInfeasibleError(
        f"found no spanning forest of {num_trees} tree(s) with tree degree <= terminals: {tried}; "
        f"{'; '.join(failed)}; satellite {u} still needs {int(deg[u])} tree links with {int(cap[u])} terminals "
        f"(the candidate graph may have no such forest: a Hamiltonian path per component would be needed for "
        f"2 terminals); raise terminals or num_trees")


def _split_over_full(problem: SpanningProblem, in_tree: np.ndarray, deg: np.ndarray, cap: np.ndarray,
                     weights: np.ndarray, budget: int, where: np.ndarray) -> int:
    """Drop up to `budget` tree edges at over-full satellites in `where` (heaviest first, in place); how many."""
    over = (deg > cap) & where
    if budget <= 0 or not over.any():
        return 0
    ea, eb = problem.edges[:, 0], problem.edges[:, 1]
    at = np.flatnonzero(in_tree & (over[ea] | over[eb]))
    at = at[np.lexsort((at, -weights[at]))]
    used = 0
    for e in at.tolist():
        a, b = int(ea[e]), int(eb[e])
        if used == budget:
            break
        if not ((deg[a] > cap[a] and where[a]) or (deg[b] > cap[b] and where[b])):
            continue
        if _split_forest(problem, in_tree, np.array([e]), 1):
            deg[a] -= 1
            deg[b] -= 1
            used += 1
    return used


_HAM_RESTARTS = 12
_SWAP_PATHS_UP_TO = 300
_POCKET_WALK = 64
_MILP_MAX_NODES = 400
_MILP_MAX_EDGES = 4000
_MILP_TIME_S = 10.0


def _milp_forest(problem: SpanningProblem, num_trees: int, weights: np.ndarray,
                 time_limit: float) -> tuple[str, np.ndarray | None]:
    """Exact: a least-weight forest of `num_trees` trees with degree <= terminals and an eligible node per tree.

    Binary x_e (tree edge) and r_v (root), sum x = n - K, sum r = K, degree <= terminals; one unit of flow
    from a super-source reaches every satellite through roots (g_v <= n r_v) and tree edges
    (f <= n x_e in both directions). Every component of the chosen edges then holds a root, so with
    n - K edges and K roots it is a forest of exactly K trees. Solved by HiGHS (scipy.optimize.milp).
    Returns ("optimal" | "feasible" | "infeasible" | a HiGHS message, tree-edge mask or None).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix, hstack, identity, vstack

    n, m = problem.num_nodes, problem.num_edges
    a, b = problem.edges[:, 0], problem.edges[:, 1]
    eye_m = identity(m, format="csr")
    zeros = lambda r, c: csr_matrix((r, c))  # noqa: E731
    inc = csr_matrix((np.ones(2 * m), (np.r_[a, b], np.r_[np.arange(m), np.arange(m)])), shape=(n, m))
    # Flow into v: forward arcs a->b enter b, backward arcs b->a enter a.
    into_f = csr_matrix((np.ones(m), (b, np.arange(m))), shape=(n, m)) - csr_matrix((np.ones(m), (a, np.arange(m))), shape=(n, m))
    rows = [
        hstack([csr_matrix(np.ones((1, m))), zeros(1, n), zeros(1, 2 * m), zeros(1, n)]),  # sum x = n - K
        hstack([zeros(1, m), csr_matrix(np.ones((1, n))), zeros(1, 2 * m), zeros(1, n)]),  # sum r = K
        hstack([inc, zeros(n, n), zeros(n, 2 * m), zeros(n, n)]),  # degree <= terminals
        hstack([zeros(n, m), zeros(n, n), into_f, -into_f, identity(n)]),  # conservation: inflow = 1
        hstack([zeros(n, m), -n * identity(n), zeros(n, 2 * m), identity(n)]),  # g <= n r
        hstack([-n * eye_m, zeros(m, n), eye_m, zeros(m, m), zeros(m, n)]),  # f+ <= n x
        hstack([-n * eye_m, zeros(m, n), zeros(m, m), eye_m, zeros(m, n)]),  # f- <= n x
    ]
    k = float(num_trees)
    lo = np.r_[n - k, k, np.full(n, -np.inf), np.ones(n), np.full(n + 2 * m, -np.inf)]
    hi = np.r_[n - k, k, problem.resources.terminals.astype(float), np.ones(n), np.zeros(n + 2 * m)]
    eligible = np.ones(n) if problem.root_eligible is None else np.asarray(problem.root_eligible, float)
    upper = np.r_[np.ones(m), eligible, np.full(2 * m + n, np.inf)]
    w = np.asarray(weights, float)
    scale = np.abs(w).max() if len(w) and np.abs(w).max() > 0 else 1.0
    cost = np.r_[w / scale, np.zeros(n + 2 * m + n)]
    integrality = np.r_[np.ones(m + n), np.zeros(2 * m + n)]
    res = milp(cost, constraints=LinearConstraint(vstack(rows).tocsr(), lo, hi), integrality=integrality,
               bounds=Bounds(np.zeros(len(cost)), upper), options={"time_limit": time_limit, "disp": False})
    if res.x is not None and res.status in (0, 1):
        status = "optimal" if res.status == 0 else "feasible"
        return status, res.x[:m] > 0.5
    if res.status == 2:
        return "infeasible", None
    return str(res.message), None


def _swap_repair(problem: SpanningProblem, in_tree: np.ndarray, deg: np.ndarray, cap: np.ndarray,
                 weights: np.ndarray, seed: int) -> int:
    """Fürer–Raghavachari local improvement on a spanning forest with over-full satellites (in place).

    For an over-full satellite u, a non-tree edge (x, y) between two different branches of u closes a
    cycle through u; adding it and dropping u's edge into one of the branches lowers u's degree. When
    x and y both have a spare terminal the excess drops; otherwise, with one spare end, the excess
    moves to the other (saturated) end, a random walk with a short tabu list. Returns the swaps made.
    A satellite with no such edge at all cannot lose a link in any spanning tree and is left alone.
    """
    n = problem.num_nodes
    ea, eb = problem.edges[:, 0], problem.edges[:, 1]
    rng = np.random.default_rng(seed)
    excess = int(np.maximum(deg - cap, 0).sum())
    budget = min(100 + 20 * excess, 1000, 2_000_000 // max(n, 1))  # each swap costs O(n + edges)
    tabu: deque[int] = deque(maxlen=8)
    stuck: list[int] = []
    steps = 0
    while steps < budget:
        over = np.flatnonzero(deg > cap)
        if stuck:
            over = np.setdiff1d(over, stuck)
        if len(over) == 0:
            break
        u = int(over[rng.integers(len(over))])
        mine = in_tree & ((ea == u) | (eb == u))
        u_edges = np.flatnonzero(mine)
        others = in_tree & ~mine
        labels = _forest_labels(n, problem.edges[others])
        nb = np.where(ea[u_edges] == u, eb[u_edges], ea[u_edges])
        branch_of = np.full(n, -1)
        branch_of[labels[nb]] = np.arange(len(nb))
        br = branch_of[labels]
        br[u] = -1
        ba, bb = br[ea], br[eb]
        cand = ~in_tree & (ba >= 0) & (bb >= 0) & (ba != bb)
        if not cand.any():
            stuck.append(u)  # G - u has more parts than u has terminals: no spanning tree lowers its degree
            continue
        spare = deg < cap
        good = np.flatnonzero(cand & spare[ea] & spare[eb])
        if len(good):
            e = int(good[np.argmin(weights[good])])
        else:
            ok = cand & (spare[ea] | spare[eb]) & (deg[ea] <= cap[ea]) & (deg[eb] <= cap[eb])
            if tabu:
                banned = np.zeros(n, bool)
                banned[list(tabu)] = True
                banned &= ~spare
                ok_free = ok & ~banned[ea] & ~banned[eb]
                if ok_free.any():
                    ok = ok_free
            choice = np.flatnonzero(ok)
            if len(choice) == 0:
                steps += 1  # nothing to do at u for now; another over-full satellite's swap may free a terminal
                continue
            e = int(choice[rng.integers(len(choice))])
        a, b = int(ea[e]), int(eb[e])
        drop = u_edges[[ba[e], bb[e]]]
        drop = int(drop[np.argmax(weights[drop])]) if len(good) else int(drop[rng.integers(2)])
        in_tree[e] = True
        in_tree[drop] = False
        deg[a] += 1
        deg[b] += 1
        deg[u] -= 1
        deg[ea[drop] + eb[drop] - u] -= 1
        tabu.append(u)
        steps += 1
    return steps


def _hamiltonian_path(problem: SpanningProblem, nodes: np.ndarray, weights: np.ndarray, restarts: int,
                      seed: int, fragments: np.ndarray | None = None) -> list[int] | None:
    """A Hamiltonian path of the component on `nodes`, or None.

    Extension by Warnsdorff's rule (go to the unvisited neighbour with the fewest unvisited neighbours,
    shorter edge first on ties) with Pósa rotations when the end is stuck (for a neighbour v of the
    end on the path, reverse the part after v so that v's successor becomes the end). `fragments`
    (edge indices of a forest of paths, e.g. a greedy degree-2 Kruskal) are followed whole once entered,
    so the path keeps most of their short edges. Restarts from fragment ends at low-degree satellites,
    then from random satellites without fragments.
    """
    n = problem.num_nodes
    if len(nodes) == 1:
        return [int(nodes[0])]
    member = np.zeros(n, bool)
    member[nodes] = True
    keep = member[problem.edges[:, 0]]
    e = problem.edges[keep]
    order = np.argsort(weights[keep], kind="stable")
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in e[order].tolist():
        adj[a].append(b)
        adj[b].append(a)
    fadj: list[list[int]] = [[] for _ in range(n)]
    if fragments is not None:
        f = problem.edges[fragments]
        for a, b in f[member[f[:, 0]]].tolist():
            fadj[a].append(b)
            fadj[b].append(a)
    rng = np.random.default_rng(seed)
    size = len(nodes)
    gdeg = np.array([len(adj[v]) for v in nodes.tolist()])
    ends = [v for v in nodes[np.argsort(gdeg, kind="stable")].tolist() if len(fadj[v]) <= 1]
    starts = [(v, True) for v in ends[: max(1, restarts // 2)]]
    starts += [(int(v), False) for v in rng.choice(nodes, size=max(1, restarts - len(starts)), replace=True)]
    empty: list[list[int]] = [[] for _ in range(n)]
    adjset = [set(a) for a in adj]
    for attempt, (start, follow) in enumerate(starts):
        if attempt % 2 == 0:  # grow by Warnsdorff at both ends and insertion, then Pósa for what is left
            grown = _grow_and_insert(adj, adjset, start, size)
            if len(grown) == size:
                return grown
            path = _posa_path(adj, empty, grown, size, 20 * size + 200, rng)
        else:
            path = _posa_path(adj, fadj if follow else empty, [start], size, 20 * size + 200, rng)
        if path is not None:
            return path
    return None


def _path_cover(problem: SpanningProblem, nodes: np.ndarray, weights: np.ndarray, max_paths: int,
                seed: int) -> list[list[int]] | None:
    """At most `max_paths` disjoint paths covering the component on `nodes`, each holding a root-eligible
    satellite when eligibility is set (grown one after another by `_grow_and_insert` over what is left,
    from the satellite with the fewest uncovered neighbours); None if the attempts need more."""
    if max_paths < 2:
        return None
    e = problem.edges
    member = np.zeros(problem.num_nodes, bool)
    member[nodes] = True
    keep = np.flatnonzero(member[e[:, 0]])
    keep = keep[np.argsort(weights[keep], kind="stable")]
    eligible = problem.root_eligible
    rng = np.random.default_rng(seed)
    for attempt in range(3):
        remaining = set(nodes.tolist())
        paths: list[list[int]] = []
        while remaining and len(paths) < max_paths:
            adj: dict[int, list[int]] = {v: [] for v in remaining}
            for a, b in e[keep].tolist():
                if a in remaining and b in remaining:
                    adj[a].append(b)
                    adj[b].append(a)
            pool = sorted(remaining, key=lambda v: (len(adj[v]), v))
            start = pool[0] if attempt == 0 else pool[int(rng.integers(len(pool)))]
            reach = _reach(adj, start)  # type: ignore[arg-type]
            path = _grow_and_insert(adj, {v: set(adj[v]) for v in reach}, start, len(reach))  # type: ignore[arg-type]
            paths.append(path)
            remaining.difference_update(path)
        if not remaining and (eligible is None or all(eligible[p].any() for p in paths)):
            return paths
    return None


def _grow_and_insert(adj: list[list[int]], adjset: list[set[int]], start: int, size: int) -> list[int]:
    """A path grown from `start` by Warnsdorff's rule at both ends, then by inserting each unvisited
    satellite between two consecutive path satellites it links to (a doubly linked list, O(1) per
    insertion), repeated until nothing changes. Returns the path, complete or not."""
    nxt: dict[int, int] = {start: -1}
    prv: dict[int, int] = {start: -1}
    free = {v: len(adj[v]) for v in _reach(adj, start)}
    ends = [start, start]  # head, tail

    def enter(v: int) -> None:
        for w in adj[v]:
            free[w] -= 1

    enter(start)
    count = 1
    while count < size:
        for side in (1, 0):  # extend the tail, then the head, while an unvisited neighbour exists
            while True:
                end = ends[side]
                best, best_key = -1, None
                for rank, v in enumerate(adj[end]):
                    if v not in nxt and (best_key is None or (free[v], rank) < best_key):
                        best, best_key = v, (free[v], rank)
                if best < 0:
                    break
                if side == 1:
                    nxt[end], prv[best], nxt[best] = best, end, -1
                else:
                    prv[end], nxt[best], prv[best] = best, end, -1
                ends[side] = best
                enter(best)
                count += 1
        if count == size:
            break
        queue = [v for v in free if v not in nxt]
        inserted = False
        while queue:
            w = queue.pop()
            if w in nxt:
                continue
            # A walk through the unvisited pocket from w (fewest unvisited neighbours first).
            walk, seen = [w], {w}
            while len(walk) < _POCKET_WALK:
                step, key = -1, None
                for x in adj[walk[-1]]:
                    if x not in nxt and x not in seen and (key is None or free[x] < key):
                        step, key = x, free[x]
                if step < 0:
                    break
                walk.append(step)
                seen.add(step)
            for a in adj[w]:
                if a not in nxt:
                    continue
                # Splice w..walk[j] between a and a neighbour on the path that walk[j] links to, longest first.
                done = False
                for b, after in ((nxt[a], True), (prv[a], False)):
                    if b < 0:
                        continue
                    j = next((j for j in range(len(walk) - 1, -1, -1) if b in adjset[walk[j]]), -1)
                    if j < 0:
                        continue
                    piece = walk[: j + 1]
                    x, y = (a, b) if after else (b, a)
                    seq = piece if after else piece[::-1]
                    last = x
                    for v in seq:
                        nxt[last], prv[v] = v, last
                        enter(v)
                        last = v
                    nxt[last], prv[y] = y, last
                    count += len(seq)
                    inserted = done = True
                    queue.extend(z for v in seq for z in adj[v] if z not in nxt)
                    break
                if done:
                    break
        if not inserted:
            break
    path = []
    v = ends[0]
    while v >= 0:
        path.append(v)
        v = nxt[v]
    return path


def _posa_path(adj: list[list[int]], fadj: list[list[int]], initial: list[int], size: int, max_rotations: int,
               rng: np.random.Generator) -> list[int] | None:
    """One Warnsdorff + Pósa attempt continuing the path `initial` (see `_hamiltonian_path`)."""
    pos: dict[int, int] = {}
    free = {v: len(adj[v]) for v in _reach(adj, initial[0])}
    path: list[int] = []

    def visit(v: int) -> None:
        # Enter v, then follow its fragment (the unvisited side) to the fragment's end.
        prev = -1
        while v >= 0:
            pos[v] = len(path)
            path.append(v)
            for w in adj[v]:
                free[w] -= 1
            nxt = -1
            for w in fadj[v]:
                if w != prev and w not in pos:
                    nxt = w
                    break
            prev, v = v, nxt

    def reverse_from(i: int) -> None:
        path[i:] = path[:i - 1:-1] if i > 0 else path[::-1]
        for j in range(i, len(path)):
            pos[path[j]] = j

    for v in initial[:-1]:
        pos[v] = len(path)
        path.append(v)
        for w in adj[v]:
            free[w] -= 1
    visit(initial[-1])
    rotations = 0
    hops: dict[int, int] = {}
    hops_at = -1
    while len(path) < size:
        end = path[-1]
        best, best_key = -1, None
        for rank, v in enumerate(adj[end]):
            if v not in pos:
                inner = sum(1 for w in fadj[v] if w not in pos) > 1
                key = (inner, free[v], rank)
                if best_key is None or key < best_key:
                    best, best_key = v, key
        if best >= 0:
            visit(best)
            continue
        if rotations >= max_rotations:
            return None
        rotations += 1
        last = len(path) - 1
        pivots = [pos[v] for v in adj[end] if pos[v] < last - 1]
        good = [i for i in pivots if free[path[i + 1]] > 0]
        if free[path[0]] > 0 and not good:
            reverse_from(0)
            continue
        choices = good or pivots
        if not choices:
            return None
        if good:
            # Half the time the pivot nearest the end (the cheapest reversal), else a random one.
            i = max(choices) if rng.random() < 0.5 else choices[int(rng.integers(len(choices)))]
        else:
            # Steer the end towards the unvisited satellites: the new end nearest them in hops (random ties).
            if hops_at != len(path):
                hops, hops_at = _hops_to_unvisited(adj, free, pos), len(path)
            near = min(hops.get(path[i + 1], size) for i in choices)
            best_i = [i for i in choices if hops.get(path[i + 1], size) == near]
            i = best_i[int(rng.integers(len(best_i)))] if rng.random() < 0.9 else choices[int(rng.integers(len(choices)))]
        reverse_from(i + 1)
    return path


def _hops_to_unvisited(adj: list[list[int]], free: dict[int, int], pos: dict[int, int]) -> dict[int, int]:
    """Hop distance of every satellite of the component from the nearest unvisited one (breadth-first)."""
    frontier = [v for v in free if v not in pos]
    hops = {v: 0 for v in frontier}
    depth = 0
    while frontier:
        depth += 1
        nxt = []
        for v in frontier:
            for w in adj[v]:
                if w not in hops:
                    hops[w] = depth
                    nxt.append(w)
        frontier = nxt
    return hops


def _reach(adj: list[list[int]], start: int) -> list[int]:
    """Nodes reachable from `start`."""
    seen = {start}
    stack = [start]
    while stack:
        v = stack.pop()
        for w in adj[v]:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return list(seen)


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
