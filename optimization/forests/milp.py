"""The exact degree-constrained spanning-forest MILP (HiGHS, single-commodity flow) for graphs up to a few
hundred satellites."""

from __future__ import annotations

import numpy as np

from optimization.problem import SpanningProblem


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
