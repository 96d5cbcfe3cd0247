"""Spanning forests over the candidate graph: validation, levels, Kruskal with degrees and roots, baselines.

A package by algorithm; it re-exports every name the single module had:

- ``basics``: Forest recognition and helpers: edge lookup, components, depths, validation, degrees,
  re-rooting, orientation, tree counts.
- ``kruskal``: Degree- and root-aware Kruskal (`degree_feasible_forest`) and its repair: joins, extra trees,
  Fürer–Raghavachari swaps.
- ``paths``: Hamiltonian paths and path covers for degree-2 forests: Warnsdorff growth, pocket splicing,
  Pósa rotations.
- ``milp``: The exact degree-constrained spanning-forest MILP (HiGHS, single-commodity flow) for graphs up
  to a few hundred satellites.
- ``reference``: Reference and warm-start forests: the distance forest, a random forest and the hop-count
  BFS forest.
"""

from optimization.forests.basics import (  # noqa: F401
    find_edges,
    edge_lookup,
    reroot,
    components,
    forest_depths,
    validate_forest,
    tree_degrees,
    _UnionFind,
    check_roots_possible,
    _forest_labels,
    orient_forest,
    _any_per_tree,
    _dist_from,
    _farthest_per_tree,
    component_count,
    resolve_trees,
)
from optimization.forests.kruskal import (  # noqa: F401
    kruskal_forest,
    degree_feasible_forest,
    _finish_forest,
    _every_tree_eligible,
    _mst_if_degrees_hold,
    _greedy_degree_kruskal,
    _split_forest,
    _eligible_below,
    _min_trees,
    _repair_forest,
    _split_over_full,
    _SWAP_PATHS_UP_TO,
    _swap_repair,
)
from optimization.forests.paths import (  # noqa: F401
    _HAM_RESTARTS,
    _POCKET_WALK,
    _hamiltonian_path,
    _path_cover,
    _grow_and_insert,
    _posa_path,
    _hops_to_unvisited,
    _reach,
)
from optimization.forests.milp import (  # noqa: F401
    _MILP_MAX_NODES,
    _MILP_MAX_EDGES,
    _MILP_TIME_S,
    _milp_forest,
)
from optimization.forests.reference import (  # noqa: F401
    distance_forest,
    random_forest,
    bfs_forest,
)

__all__ = [
    "find_edges", "edge_lookup", "reroot", "components", "forest_depths", "validate_forest",
    "tree_degrees", "check_roots_possible", "kruskal_forest", "degree_feasible_forest", "orient_forest",
    "component_count", "resolve_trees", "distance_forest", "random_forest", "bfs_forest",
]
