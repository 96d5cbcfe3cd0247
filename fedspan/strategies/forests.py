"""Forest bookkeeping shared by the policies: sub-graph lifting, model ids, plane chains."""

from __future__ import annotations

import numpy as np

from fedspan.aggregation import forest_levels


def lift_forest(sub_parent: np.ndarray, nodes: np.ndarray, num_nodes: int) -> np.ndarray:
    """A forest over ``nodes`` (indices local to the sub-graph) as a parent array over all N."""
    parent = np.full(num_nodes, -1, dtype=np.int64)
    sub_parent = np.asarray(sub_parent)
    has = sub_parent >= 0
    parent[nodes[has]] = nodes[sub_parent[has]]
    return parent


def assign_model_ids(parent: np.ndarray, participating: np.ndarray, holder: np.ndarray,
                     num_models: int) -> np.ndarray:
    """Model id of every satellite: its root's id, chosen so a root keeps the model it holds.

    Roots are served largest tree first; a root whose held id is taken gets the smallest free
    id; past ``num_models`` roots share ids (their sums merge by root-to-root exchange).
    """
    levels = forest_levels(parent)
    roots = np.flatnonzero((np.asarray(parent) < 0) & participating)
    sizes = np.bincount(levels.root_of[participating], minlength=len(parent))[roots]
    roots = roots[np.argsort(-sizes, kind="stable")]
    root_id = np.asarray(holder, dtype=np.int64) % num_models  # non-participants keep what they hold
    free = list(range(num_models))
    # A loop over roots only (K of them), largest tree first.
    for r in roots:
        want = int(holder[r]) % num_models
        if want in free:
            free.remove(want)
        elif free:
            want = free.pop(0)
        root_id[r] = want
    return root_id[levels.root_of]


def plane_chains(plane_ids: np.ndarray, index_in_plane: np.ndarray, available: np.ndarray,
                 sink_slot: np.ndarray | None = None) -> np.ndarray:
    """Per plane, relay chains along the ring order toward a sink, both ways around the ring.

    The sink of a plane is its first available satellite at or after ring slot
    ``sink_slot[plane]`` (default 0). Each satellite sends to its ring neighbour one step closer
    to the sink; an unavailable neighbour cuts the ring and the far side becomes its own chain.
    """
    plane_ids = np.asarray(plane_ids)
    slot = np.asarray(index_in_plane, dtype=np.int64)
    available = np.asarray(available, bool)
    planes, pid = np.unique(plane_ids, return_inverse=True)
    plane_size = np.zeros(len(planes), dtype=np.int64)
    np.maximum.at(plane_size, pid, slot + 1)
    grid = np.full((len(planes), int(plane_size.max(initial=1))), -1, dtype=np.int64)
    grid[pid[available], slot[available]] = np.flatnonzero(available)
    preferred = np.zeros(len(planes), np.int64) if sink_slot is None else np.asarray(sink_slot) % plane_size
    rel = (slot - preferred[pid]) % plane_size[pid]
    sink_rel = np.full(len(planes), np.iinfo(np.int64).max)
    np.minimum.at(sink_rel, pid[available], rel[available])
    pos = (rel - sink_rel[pid]) % plane_size[pid]  # ring distance from the sink, going forward
    toward_sink = np.where(pos <= plane_size[pid] // 2, -1, 1)
    parent = grid[pid, (slot + toward_sink) % plane_size[pid]]
    parent[(pos == 0) | ~available] = -1
    return parent
