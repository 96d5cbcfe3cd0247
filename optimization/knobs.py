"""Local steps and batch chosen for time to accuracy; the convergence bound stays a certificate.

A round of e local steps at batch B costs ``E(e, B)`` joules and ``T(e, B)`` seconds (exact clocks and powers
on a forest, :class:`optimization.valuation.ForestValuer`), and a run needs ``R(e, B) = R_ref / (e^a B^b)`` rounds
to reach its target (:class:`ProgressModel`, docs/convergence-bound.md "Planning for time to
accuracy"). The knobs minimise the cost to the target

    J(e, B) = R(e, B) / R_ref * (w_E E(e, B) / E_scale + w_T T_eff(e, B) / T_scale)

with the weights and scales of the planner's objective (:func:`optimization.evaluate.objective_scales`);
``T_eff`` is the round's latency back to back and ``max(latency, deadline_s)`` on a cadence, where a round that
misses its deadline (or a satellite's energy budget) is infeasible. Every candidate is uniform: one e and
one B for the whole constellation, a satellite's batch capped at its own samples.

Plain arrays in, no torch: the progress model is fitted by the learning layer (``fedspan.knob_probe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Sequence

import numpy as np

from optimization.errors import InvalidProblemError
from optimization.evaluate import evaluate, objective_scales
from optimization.problem import ObjectiveWeights, SpanningProblem
from optimization.progress_model import ProgressModel
from optimization.valuation import ForestValuer

__all__ = ["KnobChoice", "ProgressModel", "TargetCost", "candidate_batches", "choose_knobs", "pin_knobs",
           "round_weights", "to_target"]

#: Relative tolerance of the deadline and budget checks (the round-time search's precision is ~3e-8).
_RTOL = 1e-6


@dataclass(frozen=True)
class KnobChoice:
    """The chosen uniform knobs on a forest, their predicted costs and the whole grid of J values.

    ``objective_grid[i, j]`` is J at ``steps[i]`` local steps and batch ``batches[j]`` (inf: infeasible).
    ``feasible`` is False when no candidate met the deadline and budgets (then the knobs are the cheapest
    candidate's, the smallest e and B).
    """

    local_steps: int
    batch_size: int
    rounds_factor: float  # R(e, B) / R_ref, dimensionless
    energy_j: float  # per round, the forest's exchange share included
    latency_s: float  # per round, the exchange share included
    objective: float  # J, dimensionless
    steps: np.ndarray = field(repr=False)
    batches: np.ndarray = field(repr=False)
    objective_grid: np.ndarray = field(repr=False)
    feasible: bool = True

    def knobs(self) -> tuple[int, int]:
        """(e, B)."""
        return self.local_steps, self.batch_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (inf in the grid becomes None)."""
        grid = [[float(v) if np.isfinite(v) else None for v in row] for row in self.objective_grid]
        return {"local_steps": self.local_steps, "batch_size": self.batch_size, "rounds_factor": self.rounds_factor,
                "energy_j": self.energy_j, "latency_s": self.latency_s, "objective": self.objective,
                "feasible": self.feasible, "steps": [int(s) for s in self.steps],
                "batches": [int(b) for b in self.batches], "objective_grid": grid}


def candidate_batches(problem: SpanningProblem) -> np.ndarray:
    """Batch candidates (samples): the powers of two within ``batch_bounds`` and both bounds.

    >>> import numpy as np
    >>> p = SpanningProblem(2, np.array([[0, 1]]), [1000.0], [1e10], batch_bounds=(10, 50))
    >>> candidate_batches(p).tolist()
    [10, 16, 32, 50]
    """
    lo, hi = problem.batch_bounds
    powers = [2**k for k in range(0, 31) if lo <= 2**k <= hi]
    return np.unique(np.array([lo, *powers, hi], dtype=np.int64))


def round_weights(problem: SpanningProblem) -> ObjectiveWeights:
    """The objective's weights for one round at fixed knobs: no loss term, the energy and latency weights with
    the problem's own scales (so a pinned problem prices a round exactly as the original). With only a loss
    weight the run's time is what counts (latency weight 1)."""
    w = problem.weights
    energy, latency = w.energy, w.latency
    if energy + latency <= 0:
        latency = 1.0
    return ObjectiveWeights(loss=0.0, energy=energy, latency=latency, scales=objective_scales(problem))


def pin_knobs(problem: SpanningProblem, local_steps: int, batch_size: int) -> SpanningProblem:
    """``problem`` with e and B pinned, no loss term and no progress model: the planner then minimises the
    per-round cost of the to-target objective (its rounds factor is a constant). A satellite holding fewer
    than B samples trains on all of them (``SpanningProblem.batch_limits``)."""
    e, b = int(local_steps), int(batch_size)
    return replace(problem, local_steps_bounds=(e, e), batch_bounds=(b, b), weights=round_weights(problem),
                   progress=None)


class TargetCost(NamedTuple):
    """A plan's cost to the target: J (dimensionless; inf when infeasible), its per-round energy (J) and
    latency (s), the forest's exchange share included, and R / R_ref."""

    objective: float
    energy_j: float
    latency_s: float
    rounds_factor: float


def to_target(problem: SpanningProblem, model: ProgressModel, parent: np.ndarray, cpu_hz: np.ndarray,
              tx_power_w: np.ndarray, local_steps: np.ndarray, batch_size: np.ndarray,
              idle_s: np.ndarray | float | None = None) -> TargetCost:
    """The to-target objective J of a plan (module docstring): inf when the round misses the cadence deadline
    or a budget. Knobs enter R by their data-weighted means over the satellites (a satellite holding fewer
    samples than B trains on all of them)."""
    idle = problem.min_idle_s if idle_s is None else idle_s
    costs = evaluate(problem, parent, cpu_hz, tx_power_w, local_steps, batch_size, idle)
    every = problem.learning.mix_every
    energy = costs.energy_j + costs.mixing_energy_j / every
    latency = costs.latency_s + costs.mixing_latency_s / every
    w = round_weights(problem)
    _, se, st = w.scales
    late = problem.deadline_s is not None and latency > problem.deadline_s * (1 + _RTOL)
    rho = problem.resources.num_samples / problem.resources.num_samples.sum()
    e = float(rho @ np.broadcast_to(np.asarray(local_steps, float), rho.shape))
    b = float(rho @ np.broadcast_to(np.asarray(batch_size, float), rho.shape))
    factor = float(model.rounds_factor(e, b))
    if late or not costs.within_budgets(problem, _RTOL):
        return TargetCost(float("inf"), energy, latency, factor)
    t_eff = latency if problem.deadline_s is None else max(latency, problem.deadline_s)
    return TargetCost(float(factor * (w.energy * energy / se + w.latency * t_eff / st)), energy, latency, factor)


def choose_knobs(problem: SpanningProblem, parent: np.ndarray, model: ProgressModel | None = None, *,
                 steps: Sequence[int] | None = None, batches: Sequence[int] | None = None,
                 idle_s: np.ndarray | float | None = None) -> KnobChoice:
    """The uniform (e, B) minimising the to-target objective J on the forest ``parent`` (module docstring).

    ``model`` defaults to ``problem.progress``; ``steps`` to every integer in ``problem.step_bounds()`` (the
    step-size condition's cap included), ``batches`` to :func:`candidate_batches`. Each candidate gets exact
    clocks and knee-rule powers (:class:`~optimization.valuation.ForestValuer` on the per-round objective).

    >>> import numpy as np
    >>> from optimization import SpanningProblem
    >>> p = SpanningProblem(3, np.array([[0, 1], [1, 2]]), [1000.0, 1500.0], [1e10, 8e9])
    >>> choice = choose_knobs(p, np.array([1, -1, 1]), ProgressModel(step_exponent=1.0, batch_exponent=0.0))
    >>> choice.batch_size  # a larger batch buys no progress: it only costs
    8
    """
    model = model if model is not None else problem.progress
    if model is None:
        raise InvalidProblemError("choose_knobs needs a progress model (argument or problem.progress)")
    parent = np.asarray(parent)
    lo, hi = problem.step_bounds()
    steps_arr = np.arange(int(lo), int(hi) + 1) if steps is None else np.asarray(steps, dtype=np.int64)
    batch_arr = candidate_batches(problem) if batches is None else np.asarray(batches, dtype=np.int64)
    per_round = replace(problem, weights=round_weights(problem), progress=None)
    n = problem.num_nodes
    idle = np.broadcast_to(np.asarray(problem.min_idle_s if idle_s is None else idle_s, float), (n,)).copy()
    samples = problem.resources.num_samples
    grid = np.full((len(steps_arr), len(batch_arr)), np.inf)
    found: dict[tuple[int, int], TargetCost] = {}
    for i, e in enumerate(steps_arr):
        for j, b in enumerate(batch_arr):
            e_n, b_n = np.full(n, float(e)), np.minimum(float(b), samples)
            valued = ForestValuer(per_round, e_n, b_n, idle).value(parent)
            if valued is None:
                continue
            found[i, j] = to_target(problem, model, parent, valued.cpu_hz, valued.tx_power_w, e_n, b_n, idle)
            grid[i, j] = found[i, j].objective
    feasible = bool(np.isfinite(grid).any())
    i, j = (int(v) for v in np.unravel_index(int(np.argmin(grid)), grid.shape)) if feasible else (0, 0)
    e, b = int(steps_arr[i]), int(batch_arr[j])
    nan = float("nan")
    cost = found.get((i, j), TargetCost(float("inf"), nan, nan, float(model.rounds_factor(e, b))))
    return KnobChoice(e, b, cost.rounds_factor, cost.energy_j, cost.latency_s, float(grid[i, j]), steps_arr,
                      batch_arr, grid, feasible)
