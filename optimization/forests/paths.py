"""Hamiltonian paths and path covers for degree-2 forests: Warnsdorff growth, pocket splicing, Pósa rotations."""

from __future__ import annotations

import numpy as np

from optimization.problem import SpanningProblem


_HAM_RESTARTS = 12


_POCKET_WALK = 64


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


class _GrowingPath:
    """A path as a doubly linked list over satellites (``nxt``/``prv``, -1 at the ends), with each reachable
    satellite's count of unvisited neighbours (``free``, Warnsdorff's key)."""

    def __init__(self, adj: list[list[int]], start: int) -> None:
        self.adj = adj
        self.nxt: dict[int, int] = {start: -1}
        self.prv: dict[int, int] = {start: -1}
        self.free = {v: len(adj[v]) for v in _reach(adj, start)}
        self.ends = [start, start]  # head, tail
        self.count = 0
        self.enter(start)

    def enter(self, v: int) -> None:
        """Count ``v`` as on the path: its neighbours have one unvisited neighbour fewer."""
        for w in self.adj[v]:
            self.free[w] -= 1
        self.count += 1

    def extend_ends(self) -> None:
        """Extend the tail, then the head, by Warnsdorff's rule while an unvisited neighbour exists."""
        for side in (1, 0):
            while True:
                end = self.ends[side]
                best, best_key = -1, None
                for rank, v in enumerate(self.adj[end]):
                    if v not in self.nxt and (best_key is None or (self.free[v], rank) < best_key):
                        best, best_key = v, (self.free[v], rank)
                if best < 0:
                    break
                if side == 1:
                    self.nxt[end], self.prv[best], self.nxt[best] = best, end, -1
                else:
                    self.prv[end], self.nxt[best], self.prv[best] = best, end, -1
                self.ends[side] = best
                self.enter(best)

    def pocket_walk(self, w: int) -> list[int]:
        """A walk through the unvisited pocket from ``w`` (fewest unvisited neighbours first)."""
        walk, seen = [w], {w}
        while len(walk) < _POCKET_WALK:
            step, key = -1, None
            for x in self.adj[walk[-1]]:
                if x not in self.nxt and x not in seen and (key is None or self.free[x] < key):
                    step, key = x, self.free[x]
            if step < 0:
                break
            walk.append(step)
            seen.add(step)
        return walk

    def splice(self, walk: list[int], adjset: list[set[int]]) -> list[int]:
        """Splice ``walk[0..j]`` between a path neighbour ``a`` of ``walk[0]`` and the satellite next to ``a`` that
        ``walk[j]`` links to, longest piece first; the satellites inserted (none when no splice fits)."""
        nxt, prv = self.nxt, self.prv
        for a in self.adj[walk[0]]:
            if a not in nxt:
                continue
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
                    self.enter(v)
                    last = v
                nxt[last], prv[y] = y, last
                return seq
        return []

    def to_list(self) -> list[int]:
        """The path from head to tail."""
        path, v = [], self.ends[0]
        while v >= 0:
            path.append(v)
            v = self.nxt[v]
        return path


def _grow_and_insert(adj: list[list[int]], adjset: list[set[int]], start: int, size: int) -> list[int]:
    """A path grown from `start` by Warnsdorff's rule at both ends, then by inserting each unvisited
    satellite between two consecutive path satellites it links to (a doubly linked list, O(1) per
    insertion), repeated until nothing changes. Returns the path, complete or not."""
    path = _GrowingPath(adj, start)
    while path.count < size:
        path.extend_ends()
        if path.count == size:
            break
        queue = [v for v in path.free if v not in path.nxt]
        inserted = False
        while queue:
            w = queue.pop()
            if w in path.nxt:
                continue
            seq = path.splice(path.pocket_walk(w), adjset)
            if seq:
                inserted = True
                queue.extend(z for v in seq for z in adj[v] if z not in path.nxt)
        if not inserted:
            break
    return path.to_list()


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
