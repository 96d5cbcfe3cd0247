"""CCR exactness by brute force, on the program the SCA solves.

Every integral point (x, r in {eps, 1}: every arc used or not, every satellite a root or not) of small graphs
is checked against the rows of `build_program(...).ccr` (the tables the program stacks into its own
posynomial and monomial rows, plus its condensed reverse sides), with o and the depth labels at their best
values. The feasible patterns must be exactly the rooted spanning forests with K roots (eligible roots,
degrees <= terminals), enumerated independently with networkx, in both directions; and every such forest
must also be a feasible point of the whole program (times and resources included).
"""

from __future__ import annotations

import functools
import itertools

import networkx as nx
import numpy as np
import pytest
from opt_program import decode_roots, integral_points, parent_from_point
from test_opt_model import geometric_problem

from optimization import SatelliteResources, SpanningProblem, distance_forest
from optimization.ccr import build_ccr, topology_layout
from optimization.defaults import fastest_feasible_resources
from optimization.formulation import Arcs, build_program
from optimization.sca_start import fractional_point, initial_point
from optimization.posynomials import Layout

#: The issue's example: on this graph with 2 terminals and K = 1 the old program admitted 147 integral
#: patterns (77 with directed cycles) for 70 rooted trees.
ISSUE_GRAPH = [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 3)]
FOUR_CYCLE = [(0, 1), (1, 2), (2, 3), (0, 3)]
TRIANGLE_WITH_PENDANT = [(0, 1), (0, 2), (1, 2), (2, 3)]


def _problem(n: int, pairs, terminals: int, root_eligible=None) -> SpanningProblem:
    pairs = np.asarray(pairs)
    d = np.linspace(300.0, 2500.0, len(pairs))
    return SpanningProblem(n, pairs, d, 1e9 / d, resources=SatelliteResources.uniform(n, terminals=terminals),
                           root_eligible=root_eligible)


def _forests_by_enumeration(problem: SpanningProblem, k: int) -> set[tuple[int, ...]]:
    """Every rooted spanning forest with k trees, degrees <= terminals and eligible roots, as parent tuples."""
    n = problem.num_nodes
    eligible = np.ones(n, bool) if problem.root_eligible is None else problem.root_eligible
    found = set()
    for subset in itertools.combinations(range(problem.num_edges), n - k):
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(problem.edges[list(subset)].tolist())
        if not nx.is_forest(g) or any(d > problem.resources.terminals[v] for v, d in g.degree()):
            continue
        trees = [sorted(c) for c in nx.connected_components(g)]
        for roots in itertools.product(*trees):
            if not eligible[list(roots)].all():
                continue
            parent = [-1] * n
            for root in roots:
                for child, par in nx.bfs_predecessors(g, root):
                    parent[child] = par
            found.add(tuple(parent))
    return found


def _patterns(a: int, n: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(start, stop)
    bits = ((codes[:, None] >> np.arange(a + n)) & 1).astype(bool)
    return bits[:, :a], bits[:, a:]


@functools.lru_cache(maxsize=None)
def _program_patterns_of(n: int, pairs: tuple, terminals: int, k: int, eligible: tuple | None) -> frozenset:
    return frozenset(_program_patterns(_problem(n, pairs, terminals, eligible), k))


def _program_patterns(problem: SpanningProblem, k: int) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every 0/1 (x, r) whose integral point satisfies the program's CCR rows, as (parent, roots) tuples."""
    arcs = Arcs.all_of(problem)
    program = build_program(problem, arcs, k, fixed=False)
    ccr = program.ccr
    a, n = len(arcs.tail), problem.num_nodes
    found = set()
    for start in range(0, 2 ** (a + n), 2**15):
        x, r = _patterns(a, n, start, min(start + 2**15, 2 ** (a + n)))
        keep = np.flatnonzero(ccr.violations(integral_points(ccr, x, r)) <= 1e-9)
        for i in keep:
            found.add((tuple(parent_from_point(n, arcs.tail, arcs.head, x[i])), tuple(np.flatnonzero(r[i]))))
    return found


def _old_program_patterns(problem: SpanningProblem, k: int) -> int:
    """Integral points of the program before the CCR (no r; out-arcs <= 1, sum x >= N - K, degree rows only
    where the candidate degree exceeds the terminals), transcribed to count what it admitted."""
    arcs = Arcs.all_of(problem)
    n, a = problem.num_nodes, len(arcs.tail)
    x, _ = _patterns(a, 0, 0, 2**a)
    x = x.astype(float)
    out = np.zeros((len(x), n))
    np.add.at(out.T, arcs.tail, x.T)
    into = np.zeros((len(x), n))
    np.add.at(into.T, arcs.head, x.T)
    cand = np.bincount(np.r_[arcs.tail, arcs.head], minlength=n) // 2
    tight = cand > problem.resources.terminals
    ok = (out <= 1).all(1) & (x.sum(1) >= n - k) & ((into + out <= problem.resources.terminals) | ~tight).all(1)
    return int(ok.sum())


CASES = [
    ("issue graph, 2 terminals, K=1", 5, ISSUE_GRAPH, 2, 1, None),
    ("issue graph, 2 terminals, K=2", 5, ISSUE_GRAPH, 2, 2, None),
    ("issue graph, 3 terminals, K=1", 5, ISSUE_GRAPH, 3, 1, None),
    ("4-cycle, K=1", 4, FOUR_CYCLE, 2, 1, None),
    ("4-cycle, K=2", 4, FOUR_CYCLE, 2, 2, None),
    ("4-cycle, K=3", 4, FOUR_CYCLE, 4, 3, None),
    ("triangle + pendant, K=1", 4, TRIANGLE_WITH_PENDANT, 3, 1, None),
    ("triangle + pendant, 2 terminals, K=1", 4, TRIANGLE_WITH_PENDANT, 2, 1, None),
    ("triangle + pendant, K=2", 4, TRIANGLE_WITH_PENDANT, 3, 2, None),
    ("4-cycle, roots only at 0 and 2, K=2", 4, FOUR_CYCLE, 2, 2, [True, False, True, False]),
    ("two components, K=2", 5, [(0, 1), (1, 2), (3, 4)], 2, 2, None),
    ("two components, K=1 (none)", 5, [(0, 1), (1, 2), (3, 4)], 2, 1, None),
]


@pytest.mark.parametrize(("name", "n", "pairs", "terminals", "k", "eligible"), CASES, ids=[c[0] for c in CASES])
def test_integral_points_of_the_program_are_exactly_the_rooted_forests(name, n, pairs, terminals, k, eligible):
    problem = _problem(n, pairs, terminals, eligible)
    expected = {(parent, tuple(np.flatnonzero(np.array(parent) < 0))) for parent in _forests_by_enumeration(problem, k)}
    found = _program_patterns_of(n, tuple(pairs), terminals, k, None if eligible is None else tuple(eligible))
    assert found == expected  # both directions
    if name.endswith("(none)"):
        assert not found
    # and every one of them is a feasible point of the whole program (times, resources and budgets too)
    program = build_program(problem, Arcs.all_of(problem), k, fixed=False)
    for parent, _ in sorted(expected):
        parent = np.array(parent)
        z = initial_point(program, parent, fastest_feasible_resources(problem, parent))
        assert program.violation(z) <= 1e-9
        x, _ = program.decode(z)
        assert np.array_equal(parent_from_point(n, program.arcs.tail, program.arcs.head, x > 0.5), parent)
        assert np.array_equal(np.flatnonzero(decode_roots(program, z) > 0.5), np.flatnonzero(parent < 0))


def test_the_issue_example_before_and_after():
    """147 integral patterns for 70 rooted trees before; exactly the 70 now."""
    problem = _problem(5, ISSUE_GRAPH, 2)
    assert len(_forests_by_enumeration(problem, 1)) == 70
    assert _old_program_patterns(problem, 1) == 147
    assert len(_program_patterns_of(5, tuple(ISSUE_GRAPH), 2, 1, None)) == 70


def test_the_program_contains_exactly_the_ccr_rows():
    """The program's posynomial and monomial tables start with the CCR's, unchanged; its violation covers them."""
    p = geometric_problem(10, 4, radius=0.6)
    program = build_program(p, Arcs.all_of(p), 2, fixed=False)
    ccr = program.ccr
    for mine, whole in ((ccr.upper, program.posy), (ccr.monomial, program.linear)):
        m = len(mine.coef)
        assert np.array_equal(whole.coef[:m], mine.coef)
        assert (whole.matrix[:m] != mine.matrix).nnz == 0
        assert np.array_equal(whole.group[:m], mine.group)
    rng = np.random.default_rng(0)
    parent = distance_forest(p, 2)
    z0 = initial_point(program, parent, fastest_feasible_resources(p, parent))
    for _ in range(50):  # any point: the program's violation is at least the CCR's
        z = z0 + rng.normal(0, 0.3, len(z0))
        assert program.violation(z) >= ccr.violation(z) - 1e-15


def test_slack_must_keep_the_integral_points_exact():
    layout = Layout(topology_layout(3, 4))
    tail, head = np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1])
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="slack"):
            build_ccr(layout, 3, tail, head, 1, np.full(3, 2), slack=bad)


def test_depth_labels_reject_a_directed_cycle_and_accept_a_path():
    problem = _problem(3, [(0, 1), (0, 2), (1, 2)], 2)
    arcs = Arcs.all_of(problem)
    ccr = build_program(problem, arcs, 1, fixed=False).ccr
    cycle = np.array([(t, h) in {(0, 1), (1, 2), (2, 0)} for t, h in zip(arcs.tail, arcs.head)])
    path = np.array([(t, h) in {(0, 1), (1, 2)} for t, h in zip(arcs.tail, arcs.head)])
    roots_none, roots_2 = np.zeros(3, bool), np.array([False, False, True])
    assert ccr.violations(integral_points(ccr, cycle, roots_none))[0] > 1e-3
    assert ccr.violations(integral_points(ccr, path, roots_2))[0] <= 1e-12
    labels = ccr.labels(np.where(path, 0.0, np.log(ccr.eps)))[0] / ccr.step
    assert np.allclose(labels, [2, 1, 0])  # depth


@pytest.mark.parametrize("k", [1, 3])
def test_fractional_start_is_feasible_and_favours_no_forest(k):
    p = geometric_problem(14, 5, radius=0.6)
    parent = distance_forest(p, k)
    program = build_program(p, Arcs.all_of(p), k, fixed=False)
    z = fractional_point(program, fastest_feasible_resources(p, parent))
    assert program.violation(z) <= 1e-9
    x, r = program.decode(z)[0], decode_roots(program, z)
    eps = program.ccr.eps
    assert ((x > 1.5 * eps) & (x < 0.99)).all()  # every arc strictly fractional
    assert ((r - eps) / (1 - eps)).sum() == pytest.approx(k)


def test_fractional_start_falls_back_to_the_lp_where_an_even_split_breaks_a_degree_row():
    """A hub with 3 terminals on a ring of 8: an even split would send it 8/3 of a parent link."""
    ring = [(i, (i % 8) + 1) for i in range(1, 9)]
    pairs = sorted({tuple(sorted(e)) for e in ring + [(0, i) for i in range(1, 9)]})
    res = SatelliteResources.uniform(9, terminals=3)
    d = np.linspace(300.0, 2500.0, len(pairs))
    problem = SpanningProblem(9, np.array(pairs), d, 1e9 / d, resources=res)
    program = build_program(problem, Arcs.all_of(problem), 1, fixed=False)
    parent = distance_forest(problem)
    z = fractional_point(program, fastest_feasible_resources(problem, parent))
    assert program.violation(z) <= 1e-9
    x = program.decode(z)[0]
    into_hub = x[program.arcs.head == 0]
    assert into_hub.sum() < 8 / 3  # the LP moved mass off the hub


def test_a_condensed_equality_pins_the_topology_and_the_band_frees_it():
    """Why the reverse sides get a band: with slack -> 0 (an equality) one SCA step cannot move x."""
    from optimization.logspace import LogSpaceSubproblem
    from optimization.solvers import default_chain

    p = geometric_problem(10, 2, radius=0.6)
    parent = distance_forest(p)
    moved = {}
    for slack in (1e-6, 0.5):
        program = build_program(p, Arcs.all_of(p), 1, fixed=False, slack=slack)
        z0 = fractional_point(program, fastest_feasible_resources(p, parent))
        z, _, _ = LogSpaceSubproblem(program, default_chain()).solve(z0, 2.0)
        sl = program.layout.slices["x"]
        moved[slack] = np.abs(z[sl] - z0[sl]).max()
    assert moved[1e-6] < 0.01 < 0.2 < moved[0.5]
