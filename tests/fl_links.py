"""Test helper: the per-node parent links of a forest from plain candidate-edge arrays.

(The simulation prices links with ``fedspan.strategies.base.plan_links``, which needs a round
context; the clock tests build forests on hand-made edge lists instead.)
"""

from __future__ import annotations

import numpy as np

from fedspan.clock import edge_index


def forest_links(parent: np.ndarray, edges: np.ndarray, rate_per_watt: np.ndarray,
                 delay_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rate-per-watt and delay of each node's link to its parent (NaN for roots)."""
    parent = np.asarray(parent)
    child = np.flatnonzero(parent >= 0)
    idx = edge_index(edges, len(parent), child, parent[child])
    rpw = np.full(len(parent), np.nan)
    dly = np.full(len(parent), np.nan)
    rpw[child] = np.asarray(rate_per_watt, dtype=float)[idx]
    dly[child] = np.asarray(delay_s, dtype=float)[idx]
    return rpw, dly

