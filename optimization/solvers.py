"""Solver fallback chain for the convex subproblems: Clarabel -> SCS -> ECOS (-> MOSEK when installed)."""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass

import cvxpy as cp

from optimization.errors import SolverFailedError

ACCEPTED = {cp.OPTIMAL, cp.OPTIMAL_INACCURATE}
# Iteration caps: a fallback that runs for minutes is worse than an honest failure.
# Clarabel is tuned for SCA subproblems, whose answers the SCA re-checks exactly in numpy (feasibility and
# true objective) before accepting them, so the inner solve need not be precise. Measured on the 49
# one-cluster subproblems of the 1584-satellite shell (2 cores): defaults 5.7 s with 10 "insufficient
# progress" failures; iterative refinement off 1.7x faster; a 1e-4 gap 1.3x fewer iterations; a 0.9 step
# fraction no failures and no rejected answers. accept_unknown hands back the last iterate of a stalled
# solve instead of an error (it is checked like any other answer).
SOLVER_OPTIONS = {
    "SCS": {"max_iters": 1500},
    "ECOS": {"max_iters": 200},
    "CLARABEL": {
        "max_iter": 200, "accept_unknown": True, "iterative_refinement_enable": False, "max_step_fraction": 0.9,
        "tol_gap_abs": 1e-4, "tol_gap_rel": 1e-4, "tol_ktratio": 1e-4, "tol_feas": 1e-7,
    },
}


@functools.lru_cache(maxsize=1)
def default_chain() -> tuple[str, ...]:
    """Installed solvers able to handle exponential cones, in order of preference (cvxpy's probe takes ~7 ms)."""
    installed = set(cp.installed_solvers())
    return tuple(s for s in ("CLARABEL", "SCS", "ECOS", "MOSEK") if s in installed)


@dataclass
class SolveRecord:
    """Which solver answered, with what status, in how many seconds; failures tried before it."""

    solver: str
    status: str
    seconds: float
    failures: list[str]


def solve_with_fallback(problem: cp.Problem, chain: tuple[str, ...], **kwargs) -> SolveRecord:
    """Solve with the first solver of `chain` that returns an optimal status; raise when none does."""
    failures: list[str] = []
    for name in chain:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # CVXPY warns on OPTIMAL_INACCURATE; that status is recorded in the SolveRecord instead,
                # and the SCA re-checks every iterate against the exact constraints in numpy.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                problem.solve(solver=name, **{**SOLVER_OPTIONS.get(name, {}), **kwargs})
            status = problem.status
        except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
            status = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        seconds = time.perf_counter() - start
        if status in ACCEPTED:
            return SolveRecord(name, status, seconds, failures)
        failures.append(f"{name}: {status}")
    raise SolverFailedError("every solver failed on the inner convex problem: " + "; ".join(failures or ["no solver installed"]))
