"""Degree- and root-aware Kruskal (`degree_feasible_forest`) and its repair: joins, extra trees,
Fürer–Raghavachari swaps."""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from optimization.errors import DegreeInfeasibleError, RootEligibilityError
from optimization.problem import SpanningProblem
from optimization.forests.basics import (
    _UnionFind,
    _forest_labels,
    check_roots_possible,
    components,
    edge_lookup,
    orient_forest,
)
from optimization.forests.milp import _MILP_MAX_EDGES, _MILP_MAX_NODES, _MILP_TIME_S, _milp_forest
from optimization.forests.paths import _HAM_RESTARTS, _hamiltonian_path, _path_cover


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
    _join_trees(problem, in_tree, weights, cap)
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
    failed = _paths_for_over_full(problem, in_tree, deg, cap, weights, labels, num_trees, seed)
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


def _join_trees(problem: SpanningProblem, in_tree: np.ndarray, weights: np.ndarray, cap: np.ndarray) -> None:
    """Join the greedy's trees (``in_tree``, updated in place) with the cheapest edges, least over-full
    endpoints first: one tree per component."""
    n = problem.num_nodes
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


def _paths_for_over_full(problem: SpanningProblem, in_tree: np.ndarray, deg: np.ndarray, cap: np.ndarray,
                         weights: np.ndarray, labels: np.ndarray, num_trees: int, seed: int) -> list[str]:
    """Replace every still over-full tree by a Hamiltonian path of its component (needs >= 2 terminals), or by a
    cover of paths when the spare trees allow; ``in_tree`` and ``deg`` are updated in place. Returns why each
    component that could not be mended failed (empty when all were)."""
    n = problem.num_nodes
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
    return failed


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


_SWAP_PATHS_UP_TO = 300


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
