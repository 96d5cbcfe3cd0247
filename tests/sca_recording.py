"""One SCA run that records every subproblem answer, for the guarantees the SCA tests check."""

from __future__ import annotations

import numpy as np

from optimization.logspace import LogSpaceSubproblem
from optimization.sca import SCAOptions, SCAResult, run_sca
from optimization.solvers import default_chain


def recorded_sca(program, z0: np.ndarray, iters: int = 6) -> tuple[SCAResult, list[tuple[float, float, float]]]:
    """Run the SCA from z0; return its result and (violation, true merit, model value) of every subproblem answer."""
    seen: list[tuple[float, float, float]] = []

    class Recording(LogSpaceSubproblem):
        def solve(self, point, radius):
            z, value, record = super().solve(point, radius)
            seen.append((program.violation(z), program.merit(z), value))
            return z, value, record

    result = run_sca(program, z0, Recording(program, default_chain()), SCAOptions(max_iters=iters, rel_tol=0))
    return result, seen


def assert_feasible_and_monotone(program, z0: np.ndarray, result: SCAResult, seen) -> None:
    """Accepted objectives never rise, the SCA improves on z0, and every answer is feasible and below its model."""
    accepted = [h["objective"] for h in result.history if h["accepted"]]
    assert len(accepted) >= 3
    assert all(b <= a * (1 + 1e-12) for a, b in zip(accepted, accepted[1:]))
    assert result.objective < program.merit(z0)
    for violation, merit, model_value in seen:
        assert violation <= 1e-6  # condensations are inner approximations: every solution is feasible
        assert merit <= model_value * (1 + 1e-6)  # and the true objective sits below the model's
