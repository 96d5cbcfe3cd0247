"""The root-to-root exchange that merges a forest's cluster models: one route for the planner and the clock.

Every root sends its model to a leader root along the fastest path of the round's link graph and gets the mix
back the same way (store and forward, or packet by packet where the links forward packets). The leader is the root that reaches the most roots, and among those the
one whose slowest path is shortest. The planner prices the route at the candidate links' cap-reaching power
(:func:`optimization.evaluate.mixing_costs`); the simulated clock prices it at the round's actual rates and powers
(``fedspan.clock.mixing_cost``). Both take the route from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from optimization.forests import find_edges


@dataclass(frozen=True)
class ExchangeRoute:
    """Where the cluster models travel in one exchange.

    ``leader``: position in ``roots`` of the leader; ``reachable``: (K,) which roots reach it; ``senders`` and
    ``receivers``: the hops toward the leader, path by path in root order (each is also used once the other way
    for the mix back); ``latency_s``: twice the slowest reachable path's transfer time (s).
    """

    leader: int
    reachable: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray
    latency_s: float


def exchange_route(num_nodes: int, edges: np.ndarray, hop_s: np.ndarray, roots: np.ndarray,
                   acquisition_s: np.ndarray | None = None, packet_s: np.ndarray | None = None) -> ExchangeRoute:
    """The leader and the fastest paths of an exchange among ``roots`` over undirected ``edges`` with hop times
    ``hop_s`` (s, one per edge). Roots in other components are not reachable and not routed.

    ``acquisition_s`` (s, one per edge; 0 for links already up) is added to a hop's weight when the paths are
    chosen, so the route keeps to links that are up rather than acquire new ones for a slightly faster path; the
    latency is still that of the transfers (acquisition runs beside training, and the caller charges it). All
    zeros (free acquisition) is the same as None. ``edges`` are canonical and sorted (a snapshot's, a problem's).
    ``packet_s`` (s, one per edge): one packet's time where relays forward packet by packet; a path then takes one
    packet per hop plus, once, its largest ``hop - packet`` (``optimization.costs.walk_forest`` on a chain).
    The paths are still chosen by whole-model hop times.

    >>> import numpy as np
    >>> r = exchange_route(4, np.array([[0, 1], [1, 2], [2, 3]]), np.array([1.0, 1.0, 5.0]), np.array([0, 2, 3]))
    >>> int(r.leader), r.latency_s, r.senders.tolist(), r.receivers.tolist()
    (1, 10.0, [0, 1, 3], [1, 2, 2])
    """
    roots = np.asarray(roots, dtype=np.int64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    hop = np.asarray(hop_s, float)
    acquire = None if acquisition_s is None or not np.any(np.asarray(acquisition_s) > 0) else acquisition_s
    weight = hop if acquire is None else hop + np.asarray(acquire, float)
    w = np.r_[weight, weight] + 1e-300  # scipy drops explicit zeros
    graph = coo_matrix((w, (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(num_nodes, num_nodes)).tocsr()
    dist, pred = dijkstra(graph, indices=roots, return_predecessors=True)
    to_roots = dist[:, roots]
    reach = np.isfinite(to_roots)
    worst = np.where(reach, to_roots, 0.0).max(axis=1)
    best = int(np.lexsort((worst, -reach.sum(axis=1)))[0])
    leader = int(roots[best])
    senders, receivers, path = [], [], []
    # Each reachable root's predecessor chain toward the leader: K paths of a few hops.
    for i, r in enumerate(roots[reach[best]]):
        node = int(r)
        while node != leader:
            prev = int(pred[best, node])
            senders.append(node)
            receivers.append(prev)
            path.append(i)
            node = prev
    senders_a, receivers_a = np.asarray(senders, np.int64), np.asarray(receivers, np.int64)
    latency = 2.0 * float(worst[best])
    if (acquire is not None or packet_s is not None) and len(senders_a):  # the paths' transfer times alone
        rows, _ = find_edges(e, num_nodes, senders_a, receivers_a)
        per_path = np.asarray(path)
        if packet_s is None:
            latency = 2.0 * float(np.bincount(per_path, weights=hop[rows]).max())
        else:
            packet = np.asarray(packet_s, float)[rows]
            bottleneck = np.zeros(per_path.max() + 1)
            np.maximum.at(bottleneck, per_path, hop[rows] - packet)
            latency = 2.0 * float((np.bincount(per_path, weights=packet) + bottleneck).max())
    return ExchangeRoute(best, reach[best], senders_a, receivers_a, latency)
