"""Exact resources on a fixed forest: clocks, powers, local steps and batches for the whole constellation.

On a fixed forest the joint program needs no geometric program. With the round time T fixed, every
satellite's problem separates except through the mean local steps m = sum rho_n e_n:

* **Power.** Below a link's rate cap, free-space-optics transmit energy P S / R = S / rate_per_watt does
  not depend on P, and above it energy grows while time does not fall. Each satellite therefore
  transmits at the largest cap-reaching power of its tree links (its "knee"), clipped to its power box:
  every link it sends on runs at the cap (or at full power where the cap is out of reach).
* **Clock.** With the link times fixed, satellite n has slack s_n = T - a_n, where a_n is the uplink time
  from n to its root plus the tree's slowest dispatch. Compute energy (alpha/2) e B c f^2 rises with f,
  so the best clock is the slowest that fits: f_n = max(f_min, e B c / s_n), feasible when f_n <= f_max
  and the round's energy fits the budget (budgets become upper bounds on e B at that slack).
* **Batch.** For fixed e and T the batch's cost, noise / B plus the energy above, is convex in B (it is
  a/B + k B f(B)^2 with f(B) = max(f_min, kB/s)); the integer optimum is the floor or ceiling of one of
  three closed-form stationary points, so it is found exactly by evaluating a handful of integers.
* **Steps.** The gap and drift terms of the bound depend on m only, as A(T) / m, and the local-drift
  term on max e. For each cap u = max e and each multiplier lambda of the Lagrangian
  sum_n [H_n(e_n) - lambda rho_n e_n], every satellite picks its best integer e_n <= u; the true
  objective of each such assignment is then scored, over a grid of lambda around A / m^2 that contains
  the uniform assignments. (The Lagrangian is exact at the assignments it reaches; integrality can leave
  a gap of at most one satellite's step between two reached values of m.)
* **Round time.** The outer search is one-dimensional: a geometric grid of T between the fastest
  feasible round and the round where every clock sits at f_min, refined by golden-section search.

The answer is scored with :func:`optimization.evaluate`, the single definition of the cost model, so
the reported objective is exact; its latency is at most the searched T.

References: the slack-based clock rule is the classical critical-path (CPM) scheduling argument, and the
per-link power rule follows from the monomial free-space-optics rate of the design document, section 2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from optimization.bound import data_shares
from optimization.costs import energy_optimal_clock, terminal_overhead_w
from optimization.defaults import Resources
from optimization.errors import InfeasibleBudgetError
from optimization.evaluate import PlanCosts, evaluate, mixing_costs
from optimization.forests import validate_forest
from optimization.knobs import choose_knobs, pin_knobs, to_target
from optimization.problem import SpanningProblem
from optimization.valuation import (  # noqa: F401  (re-exported: their home is optimization.valuation)
    ForestTimes,
    ForestValuer,
    Valuation,
    _Coefficients,
    _coefficients,
    forest_times,
    golden_section,
    knee_powers,
)

#: Points of the geometric grid over the round time before the golden-section refinement.
T_GRID = 32
#: Golden-section iterations inside the best grid bracket.
T_REFINE = 20
#: Multipliers tried per step cap (log-spaced around A / m^2), plus 0 and "all at the cap".
LAMBDAS = 10


class _SlackModel:
    """Per-satellite best batch and clock for every step count at a given round time (vectorised)."""

    def __init__(self, problem: SpanningProblem, times: ForestTimes, coef: _Coefficients) -> None:
        res = problem.resources
        e_lo, e_hi = problem.step_bounds()
        self.steps = np.arange(int(e_lo), int(e_hi) + 1, dtype=float)  # (S,)
        b_lo, b_hi = problem.batch_limits()
        self.b_lo, self.b_hi = b_lo[:, None], np.floor(b_hi)[:, None]
        self.k = self.steps[None, :] * res.cycles_per_sample[:, None]  # cycles per sample of batch: e c, (N, S)
        self.half_alpha = 0.5 * res.capacitance[:, None]
        # With static power no clock below the energy-optimal one pays: it is the effective lowest clock.
        self.static = res.static_power_w[:, None]
        self.has_static = bool((res.static_power_w > 0).any())
        floor = energy_optimal_clock(res.capacitance, res.static_power_w, res.min_cpu_hz, res.max_cpu_hz)
        self.f_min, self.f_max = floor[:, None], res.max_cpu_hz[:, None]
        self.acquire = times.acquire_s[:, None]
        self.room = (res.energy_budget_j - times.link_energy_j)[:, None]  # compute energy the budget leaves
        self.inv_d = (1.0 / res.num_samples)[:, None]
        self.comm = times.comm_s[:, None]
        self.noise = coef.noise[:, None]
        self.ce = coef.energy

    def fastest_round(self) -> float:
        """Least T at which every satellite fits its smallest work at full clock."""
        return float(np.max(self.comm[:, 0] + np.maximum(self.k[:, 0] * self.b_lo[:, 0] / self.f_max[:, 0],
                                                          self.acquire[:, 0])))

    def slowest_round(self) -> float:
        """T beyond which every clock sits at its minimum with the largest work."""
        return float(np.max(self.comm[:, 0] + np.maximum(self.k[:, -1] * self.b_hi[:, 0] / self.f_min[:, 0],
                                                          self.acquire[:, 0])))

    def _cost(self, batch: np.ndarray, slack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Noise + energy cost and clock of integer batches (..., C) at slack (N, 1, 1)."""
        k = self.k[..., None]
        f = np.maximum(self.f_min[..., None], k * batch / slack)
        if not self.has_static:
            cost = self.noise[..., None] * (1.0 / batch - self.inv_d[..., None]) + self.ce * self.half_alpha[..., None] * k * batch * f**2
            return cost, f
        energy = self.half_alpha[..., None] * k * batch * f**2 + self.static[..., None] * k * batch / f
        return self.noise[..., None] * (1.0 / batch - self.inv_d[..., None]) + self.ce * energy, f

    def best(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, S) arrays: least cost per step count (inf when infeasible), its batch and its clock."""
        slack = np.maximum(t - self.comm, 0.0)  # (N, 1)
        k, ha, fmin = self.k, self.half_alpha, self.f_min
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            bend = fmin * slack / k  # batch where the clock leaves f_min
            # Largest batch within full clock and within the budget (energy rises with B).
            b_time = self.f_max * slack / k
            if self.has_static:  # the static draw over the whole slack comes first on the slack piece
                per_cycle = ha * fmin**2 + self.static / fmin
                b_bud1 = self.room / (k * per_cycle)
                b_bud2 = np.cbrt((self.room - self.static * slack) * slack**2 / (ha * k**3))
            else:
                b_bud1 = self.room / (ha * k * fmin**2)
                b_bud2 = np.cbrt(self.room * slack**2 / (ha * k**3))
            b_bud = np.where(b_bud1 <= bend, b_bud1, b_bud2)
            b_top = np.floor(np.minimum(np.minimum(self.b_hi, b_time), np.where(self.room > 0, b_bud, -np.inf)) * (1 + 1e-12))
            # Stationary points of a/B + c*B (clock at f_min) and a/B + c'*B^3 (clock on the slack).
            a = self.noise
            s1 = np.sqrt(a / (self.ce * k * per_cycle)) if self.has_static else np.sqrt(a / (self.ce * ha * k * fmin**2))
            s2 = np.sqrt(np.sqrt(a * slack**2 / (3.0 * self.ce * ha * k**3)))
        lo = np.broadcast_to(self.b_lo, b_top.shape)
        hi = np.maximum(b_top, lo)
        # The batch cost is convex in B: its continuous minimiser is the stationary point of the piece it
        # falls in (clock at f_min below `bend`, on the slack above), else the bend itself.
        s1, s2 = np.nan_to_num(s1, nan=0.0, posinf=1e300), np.nan_to_num(s2, nan=0.0, posinf=1e300)
        star = np.where(s1 <= bend, s1, np.where(s2 >= bend, s2, bend))
        star = np.clip(np.nan_to_num(star, nan=0.0, posinf=1e300), lo, hi)
        cands = np.stack([np.floor(star), np.ceil(star)], axis=-1)
        cands = np.clip(cands, lo[..., None], hi[..., None])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cost, f = self._cost(cands, slack[..., None])
        pick = np.argmin(cost, axis=-1)[..., None]
        cost = np.take_along_axis(cost, pick, -1)[..., 0]
        batch = np.take_along_axis(cands, pick, -1)[..., 0]
        clock = np.take_along_axis(f, pick, -1)[..., 0]
        bad = (b_top < lo) | (slack <= 0) | ~np.isfinite(cost) | (slack < self.acquire)
        return np.where(bad, np.inf, cost), batch, clock


@dataclass(frozen=True)
class _Choice:
    """One assignment found by the search: its model value and per-satellite decisions."""

    value: float
    t: float
    steps: np.ndarray
    batch: np.ndarray
    clock: np.ndarray


def _best_at(model: _SlackModel, coef: _Coefficients, rho: np.ndarray, t: float, lambdas: int = 0) -> _Choice | None:
    """Best step/batch/clock assignment at round time t (Lagrangian over m, every step cap)."""
    cost, batch, clock = model.best(t)
    if not np.isfinite(cost[:, 0]).all():
        return None
    steps = model.steps
    a_t = coef.gap_at(t)
    n_steps, n = len(steps), len(rho)
    best: _Choice | None = None
    base = coef.time_at(t)
    count = lambdas or (LAMBDAS if n <= 5000 else LAMBDAS // 2)  # the dense sweep at the end refines
    lams = [0.0] + list(a_t * np.geomspace(0.25 / steps[-1] ** 2, 4.0 / steps[0] ** 2, count)) + [np.inf]
    cost_t = np.ascontiguousarray(cost.T)  # (S, N)
    gain = steps[:, None] * rho[None, :]
    cols = np.arange(n)
    lam_all = np.array([lam if np.isfinite(lam) else 1e300 for lam in lams])
    # All multipliers at once, in chunks that keep the (L, S, N) arrays small at 50,000 satellites.
    chunk = max(1, min(len(lam_all), 4_000_000 // max(n_steps * n, 1)))
    for start in range(0, len(lam_all), chunk):
        lam = lam_all[start:start + chunk, None, None]
        q = cost_t[None] - lam * gain[None]  # (L, S, N)
        # For every cap u = steps[j], each satellite's best e <= u: a running argmin down the step axis.
        idx = np.zeros(q.shape, np.int64)
        run = q[:, 0].copy()
        arg = np.zeros(run.shape, np.int64)
        for j in range(1, n_steps):
            better = q[:, j] < run
            run = np.where(better, q[:, j], run)
            arg = np.where(better, j, arg)
            idx[:, j] = arg
        chosen_cost = cost_t[idx, cols].sum(axis=2)  # (L, S): true cost of the choice under each cap
        m = steps[idx] @ rho
        cap_used = steps[idx.max(axis=2)]
        total = base + a_t / m + coef.local * cap_used**2 + chosen_cost
        flat = int(np.argmin(total))
        li, j = divmod(flat, n_steps)
        if np.isfinite(total[li, j]) and (best is None or total[li, j] < best.value):
            pick = idx[li, j]
            best = _Choice(float(total[li, j]), t, steps[pick], batch[cols, pick], clock[cols, pick])
    return best


def _held_steps_at(model: _SlackModel, coef: _Coefficients, rho: np.ndarray, t: float,
                   steps: np.ndarray) -> _Choice | None:
    """Best batches and clocks at round time t with every satellite's step count held."""
    cost, batch, clock = model.best(t)
    col = (steps - model.steps[0]).astype(np.int64)[:, None]
    c = np.take_along_axis(cost, col, 1)[:, 0]
    if not np.isfinite(c).all():
        return None
    value = (coef.time_at(t) + coef.gap_at(t) / float(rho @ steps) + coef.local * steps.max() ** 2
             + c.sum())
    return _Choice(float(value), t, steps, np.take_along_axis(batch, col, 1)[:, 0], np.take_along_axis(clock, col, 1)[:, 0])


def _choice_value(choice: _Choice | None) -> tuple[float, _Choice | None]:
    """A search result as (number, payload) for :func:`golden_section`."""
    return (np.inf if choice is None else choice.value), choice


def lowest_knees(problem: SpanningProblem, parent: np.ndarray, uplink: np.ndarray) -> np.ndarray:
    """Per satellite, the smallest knee of its tree links, boxed (W); inf for a satellite with no link.

    No power below it pays: every link would slow down while none would get cheaper.
    """
    res = problem.resources
    kids = np.flatnonzero(parent >= 0)
    knee = problem.max_rate_bps / problem.rate_per_watt[uplink[kids]]
    low = np.full(problem.num_nodes, np.inf)
    np.minimum.at(low, kids, knee)
    np.minimum.at(low, parent[kids], knee)
    return np.where(np.isfinite(low), np.clip(low, res.min_tx_power_w, res.max_tx_power_w), np.inf)


def tune_powers(problem: SpanningProblem, parent: np.ndarray, power: np.ndarray, steps: np.ndarray,
                batch: np.ndarray, idle_s: np.ndarray, max_nodes: int | None = None) -> np.ndarray:
    """Lower satellites' powers where the energy saved beats the time lost (each trial valued exactly).

    A satellite transmits at one power on all its tree links, so the knee rule can overpay on its fast
    links to speed up a slow link whose receiver has slack to spare. Between its smallest knee and the
    knee rule's power, a satellite's link energy falls linearly with the power while its slow links'
    times grow as 1 / P, so the best power can lie between knees: each satellite worth trying gets a
    golden-section search over that interval, valued with steps and batches held and the clocks and
    round time re-solved (:class:`ForestValuer`). Satellites are tried in order of the energy they could
    save; those whose whole saving is below 1e-5 of the objective are skipped, and nothing is tried when
    all of them together could save less than 1e-4 of it (the default 10 Gbit/s regime, where
    transmissions cost microjoules).
    """
    uplink = validate_forest(problem, parent)
    valuer = ForestValuer(problem, steps, batch, idle_s)
    current = valuer.value(parent, uplink, power)
    if current is None:
        return power
    coef_energy = valuer.energy_weight(np.flatnonzero(parent < 0))
    low = lowest_knees(problem, parent, uplink)
    kids = np.flatnonzero(parent >= 0)
    bits, cap = problem.model_bits, problem.max_rate_bps
    # Link energy of every satellite at its current power and at its lowest knee, over all its tree links.
    ends = np.r_[kids, parent[kids]]
    rpw = np.r_[problem.rate_per_watt[uplink[kids]], problem.rate_per_watt[uplink[kids]]]
    p_now, p_low = power[ends], np.where(np.isfinite(low[ends]), low[ends], power[ends])
    over = terminal_overhead_w(problem.terminal_power_w)  # the terminals draw for the air time too
    e_now = np.bincount(ends, weights=(p_now + over) * bits / np.minimum(rpw * p_now, cap), minlength=problem.num_nodes)
    e_low = np.bincount(ends, weights=(p_low + over) * bits / np.minimum(rpw * p_low, cap), minlength=problem.num_nodes)
    saving = coef_energy * (e_now - e_low)
    worth = np.flatnonzero((low < power * (1 - 1e-12)) & (saving > 1e-5 * current.value))
    trials = [(float(saving[i]), int(i), float(low[i])) for i in worth]
    trials.sort(reverse=True)
    # Tuning can gain at most the link energy it saves: below 1e-4 of the objective it is not worth a trial.
    if sum(s for s, _, _ in trials) < 1e-4 * current.value:
        return power
    if max_nodes is None:
        max_nodes = 64 if problem.num_nodes <= 500 else 16
    best_power = power.copy()
    for _, n, low in trials[:max_nodes]:
        def value_at(p: float) -> float:
            trial = best_power.copy()
            trial[n] = p
            v = valuer.value(parent, uplink, trial)
            return np.inf if v is None else v.value

        a, b = low, float(best_power[n])
        # The value is about convex in the power (energy linear, time cost convex once slack runs out):
        # when a 1 % cut does not help (by 1e-7 of the objective), no deeper cut does.
        if value_at(b - 0.01 * (b - a)) >= current.value * (1 - 1e-7):
            continue
        p, val, _ = golden_section(lambda x: (value_at(x), None), a, b, 14, ends=(a,))
        if val < current.value * (1 - 1e-12):
            best_power[n] = p
            current = valuer.value(parent, uplink, best_power)
    return best_power


def optimal_resources(problem: SpanningProblem, parent: np.ndarray,
                      idle_s: np.ndarray | float | None = None, *, powers: bool = True) -> tuple[Resources, PlanCosts]:
    """Clocks, powers, integer local steps and batches minimising the objective on the forest `parent`.

    Exact for the cost model of :func:`optimization.evaluate` up to the one-dimensional search over
    the round time (module docstring); budgets are respected. Raises
    :class:`~optimization.InfeasibleBudgetError` when no resources fit the budgets on this forest.

    >>> import numpy as np
    >>> from optimization import SpanningProblem, evaluate
    >>> from optimization.defaults import fastest_feasible_resources
    >>> p = SpanningProblem(3, np.array([[0, 1], [1, 2]]), [1000.0, 1500.0], [1e10, 8e9])
    >>> parent = np.array([1, -1, 1])
    >>> res, costs = optimal_resources(p, parent)
    >>> d = fastest_feasible_resources(p, parent)
    >>> costs.objective < evaluate(p, parent, d.cpu_hz, d.tx_power_w, d.local_steps, d.batch_size).objective
    True

    With a progress model (``problem.progress``) the steps and batch are the time-to-accuracy choice of
    :func:`optimization.knobs.choose_knobs` on this forest, the clocks and powers are exact for them, and the
    returned costs' ``objective`` is the to-target objective J (:func:`optimization.knobs.to_target`).
    """
    parent = np.asarray(parent)
    if problem.progress is not None:
        return _resources_for_time(problem, parent, idle_s, powers)
    uplink = validate_forest(problem, parent)
    n = problem.num_nodes
    idle = np.broadcast_to(np.asarray(problem.min_idle_s if idle_s is None else idle_s, float), (n,)).copy()
    power = knee_powers(problem, parent, uplink)
    res, costs = _resources_at(problem, parent, uplink, power, idle)
    if powers:
        tuned = tune_powers(problem, parent, power, res.local_steps, res.batch_size, idle)
        if (tuned != power).any():
            res2, costs2 = _resources_at(problem, parent, uplink, tuned, idle)
            if costs2.objective < costs.objective:
                res, costs = res2, costs2
    return res, costs


def _resources_for_time(problem: SpanningProblem, parent: np.ndarray, idle_s: np.ndarray | float | None,
                        powers: bool) -> tuple[Resources, PlanCosts]:
    """Knobs for time to accuracy, then exact clocks and powers with them pinned; J as the objective."""
    idle = np.broadcast_to(np.asarray(problem.min_idle_s if idle_s is None else idle_s, float),
                           (problem.num_nodes,)).copy()
    choice = choose_knobs(problem, parent, idle_s=idle)
    res, _ = optimal_resources(pin_knobs(problem, *choice.knobs()), parent, idle, powers=powers)
    costs = evaluate(problem, parent, res.cpu_hz, res.tx_power_w, res.local_steps, res.batch_size, idle)
    target = to_target(problem, problem.progress, parent, res.cpu_hz, res.tx_power_w, res.local_steps,
                       res.batch_size, idle)
    return res, replace(costs, objective=target.objective)


def _resources_at(problem: SpanningProblem, parent: np.ndarray, uplink: np.ndarray, power: np.ndarray,
                  idle: np.ndarray) -> tuple[Resources, PlanCosts]:
    """Steps, batches, clocks and round time for fixed powers (the searches of the module docstring)."""
    roots = np.flatnonzero(parent < 0)
    times = forest_times(problem, parent, power, uplink)
    mix_t, _ = mixing_costs(problem, roots)
    coef = _coefficients(problem, len(roots), idle, mix_t / problem.learning.mix_every)
    rho = data_shares(problem.resources.num_samples)
    model = _SlackModel(problem, times, coef)
    lo = model.fastest_round()
    hi = coef.latest(model.slowest_round(), lo)
    # Above 5000 satellites a coarser grid (the refinement below still converges on the optimum).
    points = T_GRID if problem.num_nodes <= 5000 else T_GRID // 2
    grid = np.unique(np.r_[np.geomspace(lo, max(hi, lo * (1 + 1e-9)), points), lo * (1 + 1e-9)])
    found = [(_best_at(model, coef, rho, float(t)), i) for i, t in enumerate(grid)]
    feasible = [(c, i) for c, i in found if c is not None]
    if not feasible:
        short = np.flatnonzero(~np.isfinite(model.best(hi * 10)[0][:, 0]))
        i = int(short[0]) if len(short) else 0
        raise InfeasibleBudgetError(
            f"satellite {i}: energy budget {problem.resources.energy_budget_j[i]:.4g} J per round cannot cover its "
            f"smallest work at any clock on this forest (tree transmissions take {times.link_energy_j[i]:.4g} J)"
        )
    best, i = min(feasible, key=lambda ci: ci[0].value)
    # Block coordinate descent from the best grid point: the round time by golden-section search with the
    # steps held (each satellite's cost is convex in its slack), then the steps by a dense multiplier sweep
    # at that time. Every step keeps the best assignment seen, so the value never rises.
    lo_t = grid[max(i - 1, 0)]
    for _ in range(3):
        held = golden_section(lambda t, e=best.steps: _choice_value(_held_steps_at(model, coef, rho, t, e)),
                              lo_t, hi, T_REFINE)[2]
        if held is not None and held.value < best.value * (1 - 1e-12):
            best = held
        dense = _best_at(model, coef, rho, best.t, lambdas=8 * LAMBDAS)
        if dense is None or dense.value >= best.value * (1 - 1e-12):
            break
        best = dense
        lo_t = lo
    res = problem.resources
    out = Resources(
        cpu_hz=np.clip(best.clock, res.min_cpu_hz, res.max_cpu_hz),
        tx_power_w=power,
        local_steps=best.steps.astype(float),
        batch_size=best.batch.astype(float),
    )
    costs = evaluate(problem, parent, out.cpu_hz, out.tx_power_w, out.local_steps, out.batch_size, idle)
    return out, costs
