"""Valuing a forest at fixed local steps and batches: link timing, knee-rule powers, the objective's
coefficients and the exact round-time search (:class:`ForestValuer`).

Split from :mod:`optimization.resources` so that :mod:`optimization.knobs` (which values every uniform
(e, B) candidate with it) and the exact resources can both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from optimization.bound import C_DRIFT, C_DRIFT_LOCAL, C_GAP, C_NOISE, cluster_dissimilarity, data_shares, drift_exposure
from optimization.costs import (acquisition_costs, energy_optimal_clock, fastest_clock_within, forest_packet_times,
                                link_costs, path_times)
from optimization.evaluate import lateness_rate, mixing_costs, objective_scales
from optimization.forests import forest_depths, validate_forest
from optimization.problem import SpanningProblem

@dataclass(frozen=True)
class ForestTimes:
    """Link timing of a forest at given powers: what every satellite's compute must leave room for."""

    tree: np.ndarray  # (N,) root of each satellite's tree
    up_path_s: np.ndarray  # (N,) uplink time from the satellite to its root
    down_path_s: np.ndarray  # (N,) dispatch time from the root to the satellite
    comm_s: np.ndarray  # (N,) a_n = up_path + the tree's slowest dispatch
    link_energy_j: np.ndarray  # (N,) energy of the satellite's tree transmissions (one up, one per child down)
    #: (N,) when the satellite's uplink is acquired (0 for kept links and roots): it sends no earlier
    acquire_s: np.ndarray | None = None


def knee_powers(problem: SpanningProblem, parent: np.ndarray, uplink: np.ndarray | None = None) -> np.ndarray:
    """Per satellite: the least power at which every one of its tree links reaches the rate cap, boxed (W).

    >>> import numpy as np
    >>> from optimization import SpanningProblem
    >>> p = SpanningProblem(3, np.array([[0, 1], [1, 2]]), [1000.0, 2000.0], [1e10, 2.5e9], max_rate_bps=1e10)
    >>> knee_powers(p, np.array([-1, 0, 1])).round(3).tolist()
    [1.0, 2.0, 2.0]
    """
    res = problem.resources
    uplink = validate_forest(problem, parent) if uplink is None else uplink
    kids = np.flatnonzero(parent >= 0)
    knee = problem.max_rate_bps / problem.rate_per_watt[uplink[kids]]
    power = np.zeros(problem.num_nodes)
    np.maximum.at(power, kids, knee)
    np.maximum.at(power, parent[kids], knee)
    return np.clip(power, res.min_tx_power_w, res.max_tx_power_w)


def forest_times(problem: SpanningProblem, parent: np.ndarray, tx_power_w: np.ndarray,
                 uplink: np.ndarray | None = None) -> ForestTimes:
    """Path times of every satellite to and from its root, by one multi-source Dijkstra each way."""
    n = problem.num_nodes
    uplink = validate_forest(problem, parent) if uplink is None else uplink
    kids = np.flatnonzero(parent >= 0)
    roots = np.flatnonzero(parent < 0)
    up_t, up_e = link_costs(problem, uplink[kids], tx_power_w[kids])
    down_t, down_e = link_costs(problem, uplink[kids], tx_power_w[parent[kids]])
    up_packet, down_packet = forest_packet_times(problem, parent, uplink, tx_power_w)
    if len(kids) and up_packet is not None:  # packets: one per hop plus the path's bottleneck (not a path sum)
        link = np.zeros((2, n))
        link[0, kids], link[1, kids] = up_t, down_t
        depth = forest_depths(parent).astype(np.int64)
        up_path, tree = path_times(parent, link[0], up_packet, depth)
        down_path, _ = path_times(parent, link[1], down_packet, depth)
    elif len(kids):  # store and forward: path sums, by Dijkstra (faster than a level walk on deep forests)
        # Edge weights must be > 0 for scipy's sparse graphs; 1e-300 s is below any real link time.
        up_g = coo_matrix((np.maximum(up_t, 1e-300), (parent[kids], kids)), shape=(n, n)).tocsr()
        down_g = coo_matrix((np.maximum(down_t, 1e-300), (parent[kids], kids)), shape=(n, n)).tocsr()
        up_path, _, tree = dijkstra(up_g, directed=True, indices=roots, min_only=True, return_predecessors=True)
        down_path = dijkstra(down_g, directed=True, indices=roots, min_only=True)
    else:
        up_path, down_path, tree = np.zeros(n), np.zeros(n), np.arange(n)
    tree = np.asarray(tree, dtype=np.int64)
    dmax = np.zeros(n)
    np.maximum.at(dmax, tree, down_path)
    energy = np.zeros(n)
    np.add.at(energy, kids, up_e)
    np.add.at(energy, parent[kids], down_e)
    acquire = np.zeros(n)
    if len(kids):
        acquire[kids], acq_e = acquisition_costs(problem, uplink[kids])
        energy[kids] += acq_e
    return ForestTimes(tree, up_path, down_path, up_path + dmax[tree], energy, acquire)


@dataclass(frozen=True)
class _Coefficients:
    """The objective's pieces as they depend on T, m = rho.e, max e and each satellite's (e, B, f)."""

    gap: float  # A(T) = gap + drift * exposure(T)
    drift: float
    local: float  # times (max e)^2
    latency: float  # times T (back to back)
    noise: np.ndarray  # (N,) times 1/B - 1/D
    energy: float  # times joules
    shift: float = 0.0  # s added to T by the root-to-root exchange's share per round
    deadline: float | None = None  # s, rounds on a cadence (problem.deadline_s)
    late: float = 0.0  # per second past the deadline (evaluate.lateness_rate)

    def gap_at(self, t: float) -> float:
        """A(t): the numerator of the gap and drift terms, over the mean steps."""
        return self.gap + self.drift * drift_exposure(t + self.shift, self.deadline)

    def time_at(self, t: float) -> float:
        """The latency term at round time t: linear back to back, lateness only on a cadence."""
        if self.deadline is None:
            return self.latency * t
        return self.late * max(t + self.shift - self.deadline, 0.0)

    def latest(self, hi: float, lo: float) -> float:
        """Upper end of the round-time search: no later than the deadline, unless even `lo` misses it."""
        if self.deadline is None:
            return hi
        return max(min(hi, self.deadline - self.shift), lo)


def _coefficients(problem: SpanningProblem, num_trees: int, idle_s: np.ndarray, mix_latency_s: float) -> _Coefficients:
    """Weights of the normalised objective broken down by the variable each term depends on."""
    lc, w = problem.learning, problem.weights
    sb, se, st = objective_scales(problem)
    n = problem.num_nodes
    rho = data_shares(problem.resources.num_samples)
    drift = np.broadcast_to(np.asarray(lc.drift_per_s, float), (n,))
    sigma2 = np.broadcast_to(np.asarray(lc.grad_variance, float), (n,))
    eta, beta = lc.learning_rate, lc.smoothness
    loss = w.loss / sb
    cadence = problem.deadline_s is not None
    return _Coefficients(
        gap=loss * (C_GAP * lc.initial_gap / (eta * lc.rounds) + C_DRIFT * float(rho @ (drift * idle_s)) / eta),
        drift=loss * C_DRIFT * float(rho @ drift) / eta,
        local=loss * C_DRIFT_LOCAL * (eta * beta) ** 2 * cluster_dissimilarity(lc, num_trees),
        latency=0.0 if cadence else w.latency / st,
        noise=loss * C_NOISE * eta * beta * rho * sigma2,
        energy=w.energy / se,
        shift=float(mix_latency_s),
        deadline=problem.deadline_s,
        late=lateness_rate(problem) if cadence else 0.0,
    )


def golden_section(value, lo: float, hi: float, iters: int, *, ends: tuple[float, ...] = ()):
    """Golden-section search of `value(x) -> (number, payload)` on [lo, hi]: the best (x, number, payload) evaluated.

    Points whose number is inf (infeasible) lie below the feasible range in every use here (too little
    slack, too little power), so the search moves right from them. `ends` are extra points evaluated too.

    References
    ----------
    .. [1] J. Kiefer, "Sequential minimax search for a maximum", Proceedings of the American
       Mathematical Society 4(3), 502-506, 1953.
    """
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    (vc, pc), (vd, pd) = value(c), value(d)
    seen = [(vc, c, pc), (vd, d, pd)] + [(v, x, q) for x in ends for v, q in [value(x)]]
    for _ in range(iters):
        if vc <= vd and np.isfinite(vc):
            b, d, vd, pd = d, c, vc, pc
            c = b - ratio * (b - a)
            vc, pc = value(c)
            seen.append((vc, c, pc))
        else:
            a, c, vc, pc = c, d, vd, pd
            d = a + ratio * (b - a)
            vd, pd = value(d)
            seen.append((vd, d, pd))
    v, x, q = min(seen, key=lambda s_: s_[0])
    return x, v, q


@dataclass
class Valuation:
    """A forest valued with fixed steps and batches: model objective, round time, clocks and powers."""

    value: float
    t: float
    cpu_hz: np.ndarray
    tx_power_w: np.ndarray
    slack_value: np.ndarray  # (N,) marginal objective per second of slack (>= 0)
    energy_weight: float = 0.0  # objective units per joule


class ForestValuer:
    """Values forests for fixed per-satellite steps and batches: clocks and round time re-solved exactly.

    For fixed (e, B) the objective is convex in the round time T (each clock max(f_min, w / (T - a_n))
    costs a convex energy), so a golden-section search over T is exact.
    """

    def __init__(self, problem: SpanningProblem, steps: np.ndarray, batch: np.ndarray, idle_s: np.ndarray) -> None:
        self.problem = problem
        self.steps, self.batch, self.idle = steps, batch, idle_s
        res = problem.resources
        self.work = steps * batch * res.cycles_per_sample
        self.half_alpha_work = 0.5 * res.capacitance * self.work
        self.static = res.static_power_w
        self.has_static = bool((self.static > 0).any())
        self.floor = energy_optimal_clock(res.capacitance, res.static_power_w, res.min_cpu_hz, res.max_cpu_hz)
        rho = data_shares(res.num_samples)
        self.mean_steps = float(rho @ steps)
        self.rho = rho

    def energy_weight(self, roots: np.ndarray) -> float:
        """Objective units per joule."""
        return float(self._coef(roots)[0].energy)

    def _coef(self, roots: np.ndarray) -> tuple[_Coefficients, float]:
        """The objective's coefficients for a forest with these roots, and its per-round mixing charge."""
        every = self.problem.learning.mix_every
        mix_t, mix_e = mixing_costs(self.problem, roots)
        coef = _coefficients(self.problem, len(roots), self.idle, mix_t / every)
        # Forests with different roots differ by their exchange: its latency and energy count too.
        return coef, coef.latency * mix_t / every + coef.energy * mix_e / every

    def value(self, parent: np.ndarray, uplink: np.ndarray | None = None,
              power: np.ndarray | None = None) -> Valuation | None:
        """Best round time and clocks on `parent` (powers by the knee rule unless given); None if infeasible."""
        p = self.problem
        res = p.resources
        power = knee_powers(p, parent, uplink) if power is None else power
        times = forest_times(p, parent, power, uplink)
        coef, mixing = self._coef(np.flatnonzero(parent < 0))
        room = res.energy_budget_j - times.link_energy_j
        f_cap = fastest_clock_within(self.work, room, res.capacitance, self.static, self.floor, res.max_cpu_hz)
        if (f_cap < self.floor * (1 - 1e-12)).any():
            return None
        a = times.comm_s
        with np.errstate(divide="ignore"):
            first = np.maximum(self.work / f_cap, times.acquire_s)  # acquisition runs beside training
        lo = float(np.max(a + first))
        hi = coef.latest(max(float(np.max(a + np.maximum(self.work / self.floor, times.acquire_s))), lo), lo)
        fixed = float(coef.noise @ np.maximum(1.0 / self.batch - 1.0 / res.num_samples, 0.0)
                      + coef.local * self.steps.max() ** 2 + coef.energy * times.link_energy_j.sum()) + mixing

        def cost(t: float) -> float:
            f = np.maximum(self.floor, self.work / np.maximum(t - a, 1e-300))
            energy = float(self.half_alpha_work @ (f * f))
            if self.has_static:
                energy += float(self.static @ (self.work / f))
            return coef.gap_at(t) / self.mean_steps + coef.time_at(t) + coef.energy * energy

        # Convex in t, so the golden-section search is exact; the ends count too (a clock may pin either).
        t, val, _ = golden_section(lambda t: (cost(t), None), lo, hi, 36, ends=(lo, hi))  # 0.618^36 ~ 3e-8
        slack = np.maximum(t - a, 1e-300)
        f = np.clip(self.work / slack, self.floor, f_cap)
        # d(energy)/d(slack) = P_static - 2 * (alpha/2) w f^2 / slack where the clock sits on the slack, else 0
        # (>= 0 in magnitude there: on the slack f is above the energy-optimal clock).
        on_slack = self.work / slack > self.floor
        marginal = np.where(on_slack, coef.energy * 2.0 * self.half_alpha_work * f * f / slack, 0.0)
        if self.has_static:
            marginal = np.maximum(marginal - np.where(on_slack, coef.energy * self.static, 0.0), 0.0)
        return Valuation(val + fixed, t, f, power, marginal, float(coef.energy))
