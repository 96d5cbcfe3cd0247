"""The fast log-space path against the readable gp=True reference on small problems."""

from __future__ import annotations

import numpy as np
import pytest
from opt_program import arcs_of_forest
from test_opt_model import geometric_problem

from optimization import SatelliteResources, SCAOptions, SolveOptions, distance_forest, solve
from optimization.defaults import fastest_feasible_resources
from optimization.formulation import Arcs, build_program
from optimization.sca_start import fractional_point, initial_point
from optimization.forests import validate_forest
from optimization.gp_reference import GPReferenceSubproblem
from optimization.logspace import LogSpaceSubproblem
from optimization.solvers import SOLVER_OPTIONS, default_chain


@pytest.mark.parametrize(("fixed", "start", "k"), [(False, "forest", 1), (True, "forest", 1), (False, "fractional", 1),
                                                   (False, "fractional", 2), (True, "forest", 2)])
@pytest.mark.parametrize("seed", [3, 8])
def test_one_subproblem_same_optimum_both_ways(fixed, start, k, seed):
    budgets = SatelliteResources.uniform(9, energy_budget_j=0.02 if start == "forest" else 0.2)
    p = geometric_problem(9, seed, radius=0.6, resources=budgets)
    parent = distance_forest(p, k)
    arcs = arcs_of_forest(parent, validate_forest(p, parent)) if fixed else Arcs.all_of(p)
    program = build_program(p, arcs, k, fixed=fixed)
    res = fastest_feasible_resources(p, parent)
    z0 = initial_point(program, parent, res) if start == "forest" else fractional_point(program, res)
    _, fast, rec_fast = LogSpaceSubproblem(program, default_chain()).solve(z0, 0.5)
    z_ref, ref, rec_ref = GPReferenceSubproblem(program, default_chain()).solve(z0, 0.5)
    # Interior-point answers agree to solver tolerance (Clarabel stops at a relative gap of
    # SOLVER_OPTIONS' tol_gap_rel = 1e-4); a first-order fallback (SCS) only to ~1e-3.
    both_ipm = {rec_fast.solver, rec_ref.solver} <= {"CLARABEL", "ECOS", "MOSEK"}
    gap = SOLVER_OPTIONS["CLARABEL"]["tol_gap_rel"]
    assert fast == pytest.approx(ref, rel=2 * gap if both_ipm else 3e-3)
    assert fast < program.merit(z0)
    assert program.violation(z_ref) <= 1e-6


def test_whole_solve_agrees_with_reference_backend():
    p = geometric_problem(7, 2, radius=0.8)
    opts = SCAOptions(max_iters=3)
    fast = solve(p, SolveOptions(sca=opts))
    ref = solve(p, SolveOptions(sca=opts, backend="gp"))
    assert fast.fallback is None and ref.fallback is None
    assert fast.objective == pytest.approx(ref.objective, rel=1e-3)
    assert np.array_equal(fast.parent, ref.parent)
