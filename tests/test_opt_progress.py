"""The planner reports its phases as they start, for progress on long plans."""

from __future__ import annotations

import numpy as np

from optimization import SolveOptions, SpanningProblem, solve


def test_solve_reports_each_phase_in_order():
    rng = np.random.default_rng(3)
    n = 30
    xy = rng.uniform(0, 3000, size=(n, 2))
    edges = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if np.linalg.norm(xy[i] - xy[j]) < 1200])
    dist = np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=1)
    p = SpanningProblem(n, edges, dist, 4e16 / dist**2)
    seen: list[str] = []
    plan = solve(p, SolveOptions(progress=seen.append, search_time_s=0.3))
    assert plan.objective > 0
    order = [next(i for i, s in enumerate(seen) if s.startswith(prefix))
             for prefix in ("start trees", "exact resources", "SCA", "local search", "tuning")]
    assert order == sorted(order), seen
    assert SolveOptions(progress=print) == SolveOptions()  # a callback does not change what is solved
