"""What a round's faults broke (``RoundFailures``) and the default forest repair.

Apart from ``fedspan.faults`` so that the strategy interface (``fedspan.strategies.base``), whose
default ``repair`` this is, imports it while ``fedspan.faults`` (which runs a faulted round through a
strategy) imports the interface: the dependency runs one way. See docs/failure-model.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedspan.aggregation import forest_levels
from optimization.forests import reroot, tree_degrees


@dataclass
class Repair:
    """A repaired forest and what the repair did."""

    parent: np.ndarray
    reparented: np.ndarray  # (N,) bool: nodes whose uplink changed
    promoted: list[int] = field(default_factory=list)  # new roots


def repair_forest(parent: np.ndarray, leaving: np.ndarray, cut: np.ndarray, edges: np.ndarray,
                  distance_km: np.ndarray, terminals: np.ndarray, usable: np.ndarray) -> Repair:
    """Remove ``leaving`` nodes and the uplinks of ``cut`` nodes, then re-attach every orphaned
    subtree over the shortest feasible candidate link to an anchored tree (respecting terminals);
    when none is left, promote the top of the largest orphaned subtree to a root and continue.
    """
    n = len(parent)
    new = np.asarray(parent, dtype=np.int64).copy()
    leaving = np.asarray(leaving, bool)
    orphan_top = (np.asarray(cut, bool) | ((new >= 0) & leaving[np.maximum(new, 0)])) & ~leaving
    new[leaving | orphan_top] = -1
    # A leaving node keeps nobody: its children are orphans now.
    anchored_root = (new < 0) & ~leaving & ~orphan_top
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    ok_edge = usable[edges[:, 0]] & usable[edges[:, 1]] & ~leaving[edges[:, 0]] & ~leaving[edges[:, 1]]
    edges, distance_km = edges[ok_edge], np.asarray(distance_km, float)[ok_edge]
    promoted: list[int] = []
    # Each pass attaches or promotes one orphaned subtree: at most (number of orphans) passes.
    while True:
        root_of = forest_levels(new).root_of
        anchored = anchored_root[root_of] & ~leaving
        orphaned = ~anchored & ~leaving
        if not orphaned.any():
            break
        deg = tree_degrees(new)
        free = deg < np.asarray(terminals)
        a, b = edges[:, 0], edges[:, 1]
        fwd = orphaned[a] & anchored[b] & free[a] & free[b]
        bwd = orphaned[b] & anchored[a] & free[a] & free[b]
        if fwd.any() or bwd.any():
            cand = np.flatnonzero(fwd | bwd)
            best = cand[np.argmin(distance_km[cand])]
            u, v = (a[best], b[best]) if fwd[best] else (b[best], a[best])
            new = reroot(new, int(u))
            new[u] = v
            continue
        sizes = np.bincount(root_of[orphaned], minlength=n)
        top = int(np.argmax(sizes))
        anchored_root[top] = True
        promoted.append(top)
    return Repair(parent=new, reparented=(new != np.asarray(parent)) & (new >= 0), promoted=promoted)


@dataclass
class RoundFailures:
    """What a round's faults broke, before any repair: the input of ``AggregationStrategy.repair``.

    One entry per satellite. A satellite that died before forwarding its partial sum is ``lost``
    (its own model is gone and its children must re-send); one that died after forwarding is
    ``dead`` but still ``contributing``.
    """

    dead: np.ndarray  # bool: gone for good (died or battery empty), also for later rounds
    lost: np.ndarray  # bool: died before forwarding its partial sum (a subset of ``dead``)
    cut_up: np.ndarray  # bool: uplink dropped before its message arrived: its subtree re-sends elsewhere
    cut_down: np.ndarray  # bool: uplink dropped after delivery: the dispatch needs another path
    contributing: np.ndarray  # bool: participants whose own model can still reach a root
    trains: np.ndarray  # bool: who spent compute energy
    fault_time_s: np.ndarray  # s into the round when the satellite's uplink or parent failed (0: none)
    wasted_tx_j: np.ndarray  # J: energy of messages that were lost
    notes: list[str]

    @property
    def usable(self) -> np.ndarray:
        """Satellites that can still relay and receive this round (contributing and alive)."""
        return self.contributing & ~self.dead


def repair_forests(parent: np.ndarray, tree_of: np.ndarray, failures: RoundFailures, edges: np.ndarray,
                   distance_km: np.ndarray, terminals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The default forest repair: ``(up_parent, down_parent, tree_of)`` after ``failures``.

    Up: the lost satellites leave and cut uplinks re-attach (``repair_forest``); down: the dead
    leave too and links cut after delivery re-attach. A satellite keeps its root's model id.
    """
    usable = failures.usable
    up = repair_forest(parent, failures.lost, failures.cut_up, edges, distance_km, terminals, usable)
    down = repair_forest(up.parent, failures.dead, failures.cut_down, edges, distance_km, terminals, usable)
    return up.parent, down.parent, np.asarray(tree_of)[forest_levels(up.parent).root_of]
