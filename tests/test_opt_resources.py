"""`optimization.resources.optimal_resources` against an independent brute force on small fixed forests.

The brute force enumerates every per-satellite integer (local_steps, batch) combination. For each
combination and each joint choice of transmit powers (a grid over each satellite's useful range,
which holds the rate-cap knee `max_rate_bps / rate_per_watt` of each of its tree links), the clocks
are optimal in closed form given the round time T (each clock as slow as T allows, capped by speed
and budget) and T is found by bisection on the convex one-dimensional objective. The best candidates
are then polished over the powers with scipy (Nelder-Mead), and everything is scored with
`optimization.evaluate`; budgets are checked with `PlanCosts.within_budgets`.

Why the power range is enough: a satellite's link energy P S / min(rate_per_watt P, cap) is flat
below a link's knee and rises above it, while the link time falls below it and is flat above it, so
a power below its smallest incident knee or above its largest one is dominated (clipped to
[min_tx_power_w, max_tx_power_w]).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
import math
import time

import numpy as np
import pytest
from scipy.optimize import minimize

from optimization import LearningConstants, SatelliteResources, SpanningProblem, evaluate
from optimization.evaluate import LATE_WEIGHT, objective_scales
from orbits.links import LinkParams, laser_rate_per_watt

C_KM_S = 299_792.458
# Constants of the bound as written in docs/convergence-bound.md (gap, drift, noise, client drift).
C_GAP, C_DRIFT, C_NOISE, C_LOCAL = 4.0, 4.0, 2.0, 16.0


def _optimal_resources():
    from optimization.resources import optimal_resources

    return optimal_resources


# ------------------------------------------------------------------------------------------------
# Independent model of one forest: link times/energies per power choice, latency offsets L_n
# ------------------------------------------------------------------------------------------------

class ForestModel:
    """Everything about a fixed forest that the brute force needs, computed from the problem arrays."""

    def __init__(self, problem: SpanningProblem, parent: np.ndarray) -> None:
        self.problem = problem
        self.parent = np.asarray(parent)
        n = problem.num_nodes
        lookup = {}
        for idx, (a, b) in enumerate(problem.edges.tolist()):
            lookup[(a, b)] = lookup[(b, a)] = idx
        self.kids = [[] for _ in range(n)]
        self.uplink = np.full(n, -1)
        for v, p in enumerate(self.parent.tolist()):
            if p >= 0:
                self.kids[p].append(v)
                self.uplink[v] = lookup[(v, p)]
        self.roots = [v for v in range(n) if self.parent[v] < 0]
        self.order = []  # parents before children
        stack = list(self.roots)
        while stack:
            v = stack.pop()
            self.order.append(v)
            stack.extend(self.kids[v])
        assert len(self.order) == n
        self.root_of = np.zeros(n, int)
        for v in self.order:
            self.root_of[v] = v if self.parent[v] < 0 else self.root_of[self.parent[v]]
        res = problem.resources
        # each satellite's transmissions: its uplink and one downlink per child, all at its own power
        self.links_of = [([self.uplink[v]] if self.parent[v] >= 0 else []) + [self.uplink[c] for c in self.kids[v]]
                         for v in range(n)]
        self.power_range = []
        for v in range(n):
            if not self.links_of[v]:
                self.power_range.append(None)  # never transmits
                continue
            knees = problem.max_rate_bps / problem.rate_per_watt[self.links_of[v]]
            knees = np.clip(knees, res.min_tx_power_w[v], res.max_tx_power_w[v])
            self.power_range.append(np.unique(knees))

    def power_candidates(self, points: int) -> list[np.ndarray]:
        """Per satellite: its knees plus a geometric grid between its smallest and largest knee."""
        out = []
        for v, knees in enumerate(self.power_range):
            if knees is None:
                out.append(np.array([self.problem.resources.min_tx_power_w[v]]))
            elif len(knees) == 1:
                out.append(knees)
            else:
                out.append(np.unique(np.r_[knees, np.geomspace(knees[0], knees[-1], points)]))
        return out

    def link_terms(self, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L_n (communication time on n's critical path: up to its root, then the root's longest way down)
        and each satellite's link energy, for per-satellite powers `power`."""
        p = self.problem
        n = p.num_nodes

        def cost(edge, watts):
            rate = min(p.rate_per_watt[edge] * watts, p.max_rate_bps)
            return p.model_bits / rate + p.delay_s[edge], watts * p.model_bits / rate

        up_path = np.zeros(n)
        down_path = np.zeros(n)
        link_e = np.zeros(n)
        for v in self.order:
            u = self.parent[v]
            if u >= 0:
                t_up, e_up = cost(self.uplink[v], power[v])
                t_down, e_down = cost(self.uplink[v], power[u])
                up_path[v] = up_path[u] + t_up  # (up_path counts from v to the root; filled top-down)
                down_path[v] = down_path[u] + t_down
                link_e[v] += e_up
                link_e[u] += e_down
        # up_path above summed links from the root down to v, which is the same set of links as v's way up
        deepest_down = np.zeros(n)
        for v in range(n):
            r = self.root_of[v]
            deepest_down[r] = max(deepest_down[r], down_path[v])
        return up_path + deepest_down[self.root_of], link_e


# ------------------------------------------------------------------------------------------------
# The brute force
# ------------------------------------------------------------------------------------------------

def _objective_parts(problem: SpanningProblem, parent: np.ndarray):
    """Coefficients of the normalised objective (docs/convergence-bound.md, docs/architecture.md)."""
    num_trees = int((np.asarray(parent) < 0).sum())
    # The mixing exchange of K > 1 trees depends on the roots only: read it once from evaluate.
    n = problem.num_nodes
    probe = evaluate(problem, parent, problem.resources.max_cpu_hz, problem.resources.max_tx_power_w, np.ones(n),
                     problem.batch_limits()[0])
    every = problem.learning.mix_every
    mix_t = getattr(probe, "mixing_latency_s", 0.0) / every
    mix_e = getattr(probe, "mixing_energy_j", 0.0) / every
    sb, se, st = objective_scales(problem)
    w = problem.weights
    lc: LearningConstants = problem.learning
    n = problem.num_nodes
    rho = problem.resources.num_samples / problem.resources.num_samples.sum()
    sigma2 = np.broadcast_to(np.asarray(lc.grad_variance, float), (n,))
    drift = np.broadcast_to(np.asarray(lc.drift_per_s, float), (n,))
    zeta = lc.dissimilarity * (1.0 + lc.mix_every * (1.0 - 1.0 / num_trees))
    return dict(sb=sb, se=se, st=st, w=w, lc=lc, rho=rho, sigma2=sigma2, drift=drift, zeta=zeta, mix_t=mix_t,
                mix_e=mix_e, deadline=problem.deadline_s)


def solve_combos(problem, parts, steps, batch, L, link_e, idle=0.0):
    """Best objective and round time for each integer combination (rows of `steps`, `batch`), given L and
    the link energies of one power choice. Vectorised bisection on the derivative of the convex g(T)."""
    res = problem.resources
    lc = parts["lc"]
    eta, beta = lc.learning_rate, lc.smoothness
    work = steps * batch * res.cycles_per_sample  # (M, n)
    kappa = 0.5 * res.capacitance * work  # compute energy = kappa f^2
    room = res.energy_budget_j - link_e  # (n,)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_budget = np.sqrt(np.maximum(room, 0.0) / kappa)
    f_cap = np.minimum(res.max_cpu_hz, f_budget)
    feasible = (f_cap >= res.min_cpu_hz * (1 - 1e-12)).all(axis=1)
    f_cap = np.maximum(f_cap, res.min_cpu_hz)
    mean_e = steps @ parts["rho"]
    c_energy = parts["w"].energy / parts["se"]
    c_time = parts["w"].latency / parts["st"] + parts["w"].loss / parts["sb"] * C_DRIFT * (parts["rho"] @ parts["drift"]) / (eta * mean_e)
    t_lo = (L + work / f_cap).max(axis=1)
    t_hi = (L + work / res.min_cpu_hz).max(axis=1)

    def slope(t):
        gap = t[:, None] - L
        f = work / gap
        active = f > res.min_cpu_hz
        return c_time - c_energy * (2 * kappa * work**2 / gap**3 * active).sum(axis=1)

    deadline = parts["deadline"]
    if deadline is None:
        lo, hi = t_lo.copy(), np.maximum(t_hi, t_lo)
        at_lo = slope(lo) >= 0
        for _ in range(56):
            mid = 0.5 * (lo + hi)
            up = slope(mid) >= 0
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
        t = np.where(at_lo, t_lo, hi)
    else:
        # On a cadence nothing but energy depends on T below the deadline, and energy falls with slack:
        # the round takes all the time it has (or its fastest time when even that misses the deadline).
        t = np.clip(deadline - parts["mix_t"], t_lo, np.maximum(t_hi, t_lo))
    f = np.clip(work / (t[:, None] - L), res.min_cpu_hz, f_cap)
    # the forest's root-to-root mixing exchange (K > 1) is a constant share of each round
    latency = (L + work / f).max(axis=1) + parts["mix_t"]
    energy = (kappa * f**2).sum(axis=1) + link_e.sum() + parts["mix_e"]
    rho, sigma2 = parts["rho"], parts["sigma2"]
    variance = np.maximum(1.0 / batch - 1.0 / res.num_samples, 0.0)
    exposure = latency if deadline is None else np.maximum(latency, deadline)
    bound = (C_GAP * lc.initial_gap / (eta * lc.rounds * mean_e)
             + C_DRIFT * (rho @ parts["drift"]) * (exposure + idle) / (eta * mean_e)
             + C_NOISE * eta * beta * variance @ (rho * sigma2)
             + C_LOCAL * (eta * beta * steps.max(axis=1)) ** 2 * parts["zeta"])
    w = parts["w"]
    if deadline is None:
        time_term = w.latency * latency / parts["st"]
    else:  # lateness only, at the documented steep price
        time_term = LATE_WEIGHT * (w.loss + w.energy + w.latency) * np.maximum(latency - deadline, 0.0) / parts["st"]
    obj = w.loss * bound / parts["sb"] + c_energy * energy + time_term
    return np.where(feasible, obj, np.inf), f


def brute_force_resources(problem: SpanningProblem, parent: np.ndarray, power_points: int = 3):
    """Best (objective, cpu_hz, tx_power_w, local_steps, batch) over every integer combination, a power grid
    and a scipy polish of the powers; the objective is `evaluate`'s."""
    model = ForestModel(problem, parent)
    n = problem.num_nodes
    parts = _objective_parts(problem, model.parent)
    e_lo, e_hi = (int(v) for v in problem.step_bounds())
    b_lo, b_hi = problem.batch_limits()
    per_sat = [[(e, b) for e in range(e_lo, e_hi + 1) for b in range(int(b_lo[v]), int(b_hi[v]) + 1)] for v in range(n)]
    combos = np.array(list(itertools.product(*per_sat)), dtype=float)  # (M, n, 2)
    steps, batch = combos[:, :, 0], combos[:, :, 1]
    candidates = model.power_candidates(power_points)
    best = (math.inf, None, None, None)
    for power in itertools.product(*candidates):
        power = np.array(power)
        L, link_e = model.link_terms(power)
        obj, f = solve_combos(problem, parts, steps, batch, L, link_e)
        i = int(np.argmin(obj))
        if obj[i] < best[0]:
            best = (obj[i], power, i, f[i])
    _, power, i, f = best
    assert power is not None, "no feasible combination"
    free = [v for v in range(n) if len(candidates[v]) > 1]
    # polish the powers of the satellites with a range (log space, clipped to the range) for the best
    # few integer combinations of the grid optimum
    L, link_e = model.link_terms(power)
    obj, _ = solve_combos(problem, parts, steps, batch, L, link_e)
    top = np.argsort(obj)[:3]
    results = []
    for j in top:
        s, b = steps[j:j + 1], batch[j:j + 1]

        def inner(logp, s=s, b=b):
            p = power.copy()
            for v, lp in zip(free, logp):
                lo, hi = candidates[v][0], candidates[v][-1]
                p[v] = float(np.clip(math.exp(lp), lo, hi))
            L2, e2 = model.link_terms(p)
            val, f2 = solve_combos(problem, parts, s, b, L2, e2)
            return float(val[0]), p, f2[0]

        x0 = np.log([power[v] for v in free])
        if free:
            sol = minimize(lambda x: inner(x)[0], x0, method="Nelder-Mead",
                           options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 200})
            x = sol.x if sol.fun <= inner(x0)[0] else x0
        else:
            x = x0
        val, p, fj = inner(x)
        results.append((val, p, fj, steps[j], batch[j]))
    val, p, fj, s, b = min(results, key=lambda r: r[0])
    costs = evaluate(problem, parent, fj, p, s, b)
    # the brute force's own model must agree with evaluate
    assert math.isclose(costs.objective, val, rel_tol=1e-7), (costs.objective, val)
    return costs, (fj, p, s, b)


# ------------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------------

def make_problem(distances, edges, *, bits, cap, weak=1.0, num_trees=1, steps=(1, 3), batch=(8, 11), **res_kw):
    """Problem on explicit edges: laser rate per watt scaled by `weak` (< 1 puts the knees inside the power range)."""
    d = np.asarray(distances, float)
    n = int(np.max(edges)) + 1
    resources = SatelliteResources.uniform(n, **res_kw)
    return SpanningProblem(num_nodes=n, edges=np.asarray(edges), distance_km=d,
                           rate_per_watt=laser_rate_per_watt(d, LinkParams()) * weak, delay_s=d / C_KM_S,
                           max_rate_bps=cap, resources=resources, model_bits=bits, num_trees=num_trees,
                           local_steps_bounds=steps, batch_bounds=batch)


CASES = {
    # default regime: 1.6 Mbit, 10 Gbit/s, real laser budget; a 3-satellite path rooted in the middle
    "default-3-star": (lambda: make_problem([900, 1800], [[0, 1], [1, 2]], bits=1.6e6, cap=10e9,
                                            num_samples=[400, 1200, 800]), [1, -1, 1]),
    # default regime, 0.15 Mbit, a 4-satellite chain from its end, heterogeneous clocks and data
    "default-4-chain": (lambda: make_problem([700, 2500, 1200, 3000], [[0, 1], [1, 2], [2, 3], [0, 3]], bits=0.15e6,
                                             cap=10e9, batch=(8, 10), max_cpu_hz=[1.0e9, 1.5e9, 2.0e9, 1.2e9],
                                             num_samples=[300, 900, 1500, 600]), [-1, 0, 1, 2]),
    # communication-heavy: 1 Gbit over 100 Mbit/s, two trees
    "comm-4-two-trees": (lambda: make_problem([1000, 2000, 1500], [[0, 1], [1, 2], [2, 3]], bits=1e9, cap=100e6,
                                              num_trees=2, num_samples=[500, 700, 900, 1100]), [1, -1, -1, 2]),
    # communication-heavy with weak links (knees inside [0.01, 2] W): powers matter; 5 satellites
    "comm-5-weak": (lambda: make_problem([1200, 2600, 900, 2000], [[0, 1], [0, 2], [0, 3], [3, 4]], bits=1e9,
                                         cap=100e6, weak=2e-4, steps=(1, 2), batch=(8, 10),
                                         num_samples=[800, 300, 1200, 600, 1000]), [-1, 0, 0, 0, 3]),
    # default payload with weak links at 1 Gbit/s: knees inside the range
    "weak-4-star": (lambda: make_problem([1500, 3000, 2200], [[0, 1], [0, 2], [0, 3]], bits=1.6e6, cap=1e9,
                                         weak=1e-3, num_samples=[600, 900, 300, 1200]), [-1, 0, 0, 0]),
}


def _on_cadence(name: str, fraction: float) -> tuple:
    """A case on a cadence whose deadline sits `fraction` of the way from its fastest to its slowest round."""
    make, parent = CASES[name]

    def cadence() -> SpanningProblem:
        problem = make()
        costs, _ = _free_optimum(name)  # back to back: its latency is between the fastest and the slowest round
        slow = evaluate(problem, parent, problem.resources.min_cpu_hz, problem.resources.max_tx_power_w,
                        problem.step_bounds()[1], problem.batch_limits()[1]).latency_s
        mix = costs.mixing_latency_s / problem.learning.mix_every  # the exchange's share counts in the round
        return replace(problem, deadline_s=mix + costs.latency_s + fraction * (slow - costs.latency_s))
    return cadence, parent


CADENCE_CASES = {f"{name}@{fraction}": _on_cadence(name, fraction)
                 for name, fraction in (("default-3-star", 0.3), ("default-4-chain", 0.05), ("comm-4-two-trees", 0.5),
                                        ("weak-4-star", 2.0))}


_FREE: dict[str, tuple] = {}


def _free_optimum(name: str):
    """Brute force of a case without budgets (cached: several tests use it)."""
    if name not in _FREE:
        make, parent = CASES[name]
        _FREE[name] = brute_force_resources(make(), np.array(parent))
    return _FREE[name]


def _with_budgets(name: str, share: float = 0.4, count: int = 2) -> SpanningProblem:
    """The case with budgets on the `count` satellites of largest compute energy at their unconstrained optimum:
    each budget is that optimum's round energy less `share` of its compute energy (feasible, and binding)."""
    make, parent = CASES[name]
    problem = make()
    costs, (f, _, s, b) = _free_optimum(name)
    res = problem.resources
    compute = 0.5 * res.capacitance * s * b * res.cycles_per_sample * f**2
    hungry = np.argsort(-compute)[:count]
    budgets = np.full(problem.num_nodes, np.inf)
    budgets[hungry] = costs.node_energy_j[hungry] - share * compute[hungry]
    res.energy_budget_j = budgets
    return SpanningProblem(num_nodes=problem.num_nodes, edges=problem.edges, distance_km=problem.distance_km,
                           rate_per_watt=problem.rate_per_watt, delay_s=problem.delay_s,
                           max_rate_bps=problem.max_rate_bps, resources=res, model_bits=problem.model_bits,
                           num_trees=problem.num_trees, local_steps_bounds=problem.local_steps_bounds,
                           batch_bounds=problem.batch_bounds)


def _check(problem, parent, brute=None):
    optimal_resources = _optimal_resources()
    t0 = time.perf_counter()
    costs_bf, (f, p, s, b) = brute or brute_force_resources(problem, parent)
    brute_s = time.perf_counter() - t0
    assert costs_bf.within_budgets(problem)
    res, costs = optimal_resources(problem, np.asarray(parent))
    again = evaluate(problem, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size)
    assert math.isclose(again.objective, costs.objective, rel_tol=1e-9), "PlanCosts differ from evaluate of the resources"
    assert np.array_equal(res.local_steps, np.round(res.local_steps)) and np.array_equal(res.batch_size, np.round(res.batch_size))
    lo, hi = problem.step_bounds()
    assert (res.local_steps >= lo).all() and (res.local_steps <= hi).all()
    b_lo, b_hi = problem.batch_limits()
    assert (res.batch_size >= b_lo).all() and (res.batch_size <= b_hi).all()
    r = problem.resources
    assert (res.cpu_hz >= r.min_cpu_hz * (1 - 1e-9)).all() and (res.cpu_hz <= r.max_cpu_hz * (1 + 1e-9)).all()
    assert (res.tx_power_w >= r.min_tx_power_w * (1 - 1e-9)).all() and (res.tx_power_w <= r.max_tx_power_w * (1 + 1e-9)).all()
    assert again.within_budgets(problem), f"budgets exceeded: {again.node_energy_j} > {r.energy_budget_j}"
    gap = again.objective / costs_bf.objective - 1.0
    assert gap <= 1e-3, (
        f"optimal_resources objective {again.objective:.6f} is {100 * gap:.3f} % above the brute force's "
        f"{costs_bf.objective:.6f} (brute force: steps {s.tolist()}, batch {b.tolist()}, clocks {f.tolist()}, "
        f"powers {p.tolist()}; optimal_resources: steps {res.local_steps.tolist()}, batch {res.batch_size.tolist()}, "
        f"clocks {res.cpu_hz.tolist()}, powers {res.tx_power_w.tolist()}; brute force took {brute_s:.1f} s)")
    return gap


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimal_resources_match_brute_force(name):
    make, parent = CASES[name]
    _check(make(), np.array(parent), _free_optimum(name))


@pytest.mark.parametrize("name", sorted(CADENCE_CASES))
def test_cadence_resources_match_brute_force(name):
    """Rounds on a cadence: latency is free up to the deadline; exact against the brute force's own model."""
    make, parent = CADENCE_CASES[name]
    problem, parent = make(), np.array(parent)
    _check(problem, parent)
    res, costs = _optimal_resources()(problem, parent)
    assert costs.latency_s + costs.mixing_latency_s / problem.learning.mix_every <= problem.deadline_s * (1 + 1e-9)
    # The slack goes to learning and slower clocks: at least the back-to-back plan's steps, no more energy.
    free, (f0, _, s0, _) = _free_optimum(name.split("@")[0])
    assert res.local_steps @ problem.resources.num_samples >= s0 @ problem.resources.num_samples
    assert costs.energy_j <= free.energy_j * (1 + 1e-9) or res.local_steps.sum() > s0.sum()


def test_cadence_deadline_binds_where_learning_wants_time():
    """A deadline below the back-to-back plan's latency forces a faster round than unconstrained planning picks."""
    make, parent = CASES["default-3-star"]
    problem, parent = make(), np.array(parent)
    free, _ = _free_optimum("default-3-star")
    r = problem.resources
    fastest = evaluate(problem, parent, r.max_cpu_hz, r.max_tx_power_w, problem.step_bounds()[0],
                       problem.batch_limits()[0]).latency_s
    tight = replace(problem, deadline_s=fastest + 0.5 * (free.latency_s - fastest))
    res, costs = _optimal_resources()(tight, parent)
    assert costs.latency_s <= tight.deadline_s * (1 + 1e-9)
    _check(tight, parent)


@pytest.mark.parametrize("name", ["default-4-chain", "comm-5-weak"])
def test_optimal_resources_with_binding_budgets(name):
    parent = np.array(CASES[name][1])
    problem = _with_budgets(name)
    costs_free, _ = _free_optimum(name)
    brute = brute_force_resources(problem, parent)
    assert brute[0].objective > costs_free.objective * (1 + 1e-6), "the budgets do not bind: the case tests nothing"
    _check(problem, parent, brute)


def test_brute_force_beats_simple_resources():
    """Sanity of the reference itself: no simple resource choice beats it."""
    from optimization.defaults import fastest_feasible_resources

    for name, (make, parent) in CASES.items():
        problem, parent = make(), np.array(parent)
        costs, _ = _free_optimum(name)
        r = fastest_feasible_resources(problem, parent)
        for e in range(int(problem.step_bounds()[0]), int(problem.step_bounds()[1]) + 1):
            other = evaluate(problem, parent, r.cpu_hz, r.tx_power_w, np.full(problem.num_nodes, e), r.batch_size)
            assert costs.objective <= other.objective * (1 + 1e-9)
