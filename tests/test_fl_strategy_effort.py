"""Fed-Span's planner effort scales with the constellation, and explicit options win."""

from __future__ import annotations

from fedspan.strategies import make_strategy
from fedspan.strategies.trees import LARGE_PROBLEM_NODES, LARGE_PROBLEM_SCA_ITERS


def test_large_constellations_get_a_lighter_solve() -> None:
    policy = make_strategy("fedspan")
    small, large = policy.solve_options(66), policy.solve_options(LARGE_PROBLEM_NODES + 1)
    assert small.polish and large.sca.max_iters == LARGE_PROBLEM_SCA_ITERS and not large.polish
    assert small.sca.max_iters > LARGE_PROBLEM_SCA_ITERS


def test_explicit_options_override_the_size_rule() -> None:
    policy = make_strategy("fedspan", sca_iters=5, polish=True)
    opts = policy.solve_options(5236)
    assert opts.sca.max_iters == 5 and opts.polish
