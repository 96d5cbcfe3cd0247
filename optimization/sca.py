"""Successive convex approximation with a trust region: accept a step only if the true objective does not rise."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from optimization.errors import SolverFailedError
from optimization.formulation import SignomialProgram
from optimization.solvers import SolveRecord


class Subproblem(Protocol):
    """A convex model of the program at a point (log-space fast path or the gp=True reference)."""

    def solve(self, point: np.ndarray, radius: float) -> tuple[np.ndarray, float, SolveRecord]:
        """Optimal point, optimal value and solver record of the subproblem at `point`."""
        ...


@dataclass(frozen=True)
class SCAOptions:
    """Stopping rule and trust-region schedule of the SCA loop."""

    max_iters: int = 8
    rel_tol: float = 5e-3
    radius: float = float(np.log(4.0))
    min_radius: float = 1e-3
    feas_tol: float = 1e-6


@dataclass
class SCAResult:
    """Final log-point and one record per SCA iteration (accepted or not)."""

    z: np.ndarray
    objective: float
    history: list[dict] = field(default_factory=list)


def run_sca(program: SignomialProgram, z0: np.ndarray, sub: Subproblem, options: SCAOptions) -> SCAResult:
    """Iterate condense -> solve -> accept/shrink from the feasible point z0 until the relative change < tol.

    Successive convex (inner) approximation [1]_: each signomial constraint's subtracted posynomial is
    condensed to a monomial by the AM-GM inequality at the current point, which makes the subproblem a
    geometric program [2]_; a trust region in log space, shrunk when the true merit rises, keeps the
    steps where the condensation is accurate.

    References
    ----------
    .. [1] B. R. Marks and G. P. Wright, "A general inner approximation algorithm for nonconvex
       mathematical programs", Operations Research 26(4), 681-683, 1978.
    .. [2] S. Boyd, S.-J. Kim, L. Vandenberghe and A. Hassibi, "A tutorial on geometric programming",
       Optimization and Engineering 8(1), 67-127, 2007.
    """
    if program.violation(z0) > options.feas_tol:
        raise SolverFailedError(f"SCA start point violates the constraints by {program.violation(z0):.3g}")
    z, best = z0.copy(), program.merit(z0)
    out = SCAResult(z, best, [{"iteration": 0, "objective": best, "accepted": True, "status": "warm start",
                               "solver": "", "seconds": 0.0, "radius": options.radius, "violation": 0.0}])
    radius = options.radius
    for it in range(1, options.max_iters + 1):
        start = time.perf_counter()
        try:
            cand, _, record = sub.solve(z, radius)
        except SolverFailedError as exc:
            radius /= 4
            out.history.append({"iteration": it, "objective": best, "accepted": False, "status": str(exc),
                                "solver": "", "seconds": time.perf_counter() - start, "radius": radius, "violation": np.nan})
            if radius < options.min_radius:
                raise
            continue
        viol, value = program.violation(cand), program.merit(cand)
        accepted = viol <= options.feas_tol and value <= best * (1 + 1e-12)
        out.history.append({"iteration": it, "objective": value if accepted else best, "accepted": accepted,
                            "status": record.status, "solver": record.solver, "failures": record.failures,
                            "seconds": time.perf_counter() - start, "radius": radius, "violation": viol})
        if not accepted:
            radius /= 2
            if radius < options.min_radius:
                break
            continue
        change = (best - value) / max(abs(best), 1e-300)
        z, best = cand, value
        if change < options.rel_tol:
            break
        radius = min(radius * 1.5, options.radius * 4)
    out.z, out.objective = z, best
    return out
