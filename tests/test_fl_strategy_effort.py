"""Fed-Span plans with the library's defaults unless a strategy option says otherwise."""

from __future__ import annotations

from optimization import SolveOptions
from fedspan.strategies import make_strategy


def test_default_options_are_the_planners() -> None:
    assert make_strategy("fedspan").solve_options() == SolveOptions()


def test_explicit_options_override_the_defaults() -> None:
    opts = make_strategy("fedspan", sca_iters=5, search_time_s=0.5).solve_options()
    assert opts.sca.max_iters == 5 and opts.search_time_s == 0.5
    assert opts.whole_up_to == SolveOptions().whole_up_to
