"""`evaluate`: the single definition of a plan's latency, energy, bound and normalised objective."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

from optimization.bound import bound_terms, drift_exposure
from optimization.costs import round_costs, terminal_overhead_w
from optimization.errors import InvalidProblemError
from optimization.exchange import exchange_route
from optimization.forests import find_edges, orient_forest
from optimization.problem import SpanningProblem, as_vector


@dataclass(frozen=True)
class PlanCosts:
    """Costs of one round of a plan, with per-satellite energy and finish times."""

    latency_s: float
    energy_j: float
    bound: float
    objective: float
    node_energy_j: np.ndarray
    up_time_s: np.ndarray
    down_time_s: np.ndarray
    #: Root-to-root exchange of a forest (K > 1), per exchange; the objective charges it once per `mix_every` rounds.
    mixing_latency_s: float = 0.0
    mixing_energy_j: float = 0.0

    def within_budgets(self, problem: SpanningProblem, rtol: float = 1e-6) -> bool:
        """Whether every satellite's round energy fits its budget."""
        return bool((self.node_energy_j <= problem.resources.energy_budget_j * (1 + rtol)).all())


def mixing_costs(problem: SpanningProblem, roots: np.ndarray) -> tuple[float, float]:
    """Latency (s) and energy (J) of one root-to-root exchange of a forest's cluster models.

    Every root sends its model to a leader root along the fastest candidate path and gets the mix back
    (store and forward, or packet by packet with ``packet_bits``), so the latency is twice the slowest path from
    the best leader; each hop runs at
    the rate cap where the power reaches it, costing ``model_bits / rate_per_watt`` each way. Roots in
    other components of the candidate graph cannot be reached and are not charged. Zero for one tree.

    >>> import numpy as np
    >>> from optimization import SpanningProblem
    >>> p = SpanningProblem(3, np.array([[0, 1], [1, 2]]), [3000.0, 3000.0], [1e10, 1e10], model_bits=1e6)
    >>> round(mixing_costs(p, np.array([0, 2]))[0] * 1e3, 3)  # ms: 2 hops of 10.007 ms delay + 0.1 ms air, twice
    40.428
    """
    roots = np.asarray(roots, dtype=np.int64)
    if len(roots) <= 1 or problem.num_edges == 0:
        return 0.0, 0.0
    n, e = problem.num_nodes, problem.edges
    power = np.minimum(problem.resources.max_tx_power_w[e[:, 0]], problem.resources.max_tx_power_w[e[:, 1]])
    airtime = problem.model_bits / np.minimum(problem.rate_per_watt * power, problem.max_rate_bps)
    hop = airtime + problem.delay_s
    # Transmit energy at the cap-reaching power, plus both terminals' electronics for the air time. The route keeps
    # to links that are up (acquisition weighs on its choice, as on the clock's); the planner charges no
    # acquisition for it, since the clock holds the route's links from round to round (docs/physical-model.md).
    joules = problem.model_bits / problem.rate_per_watt + terminal_overhead_w(problem.terminal_power_w) * airtime
    packet = None
    if problem.packet_fraction < 1:
        packet = problem.packet_fraction * airtime + problem.delay_s
    route = exchange_route(n, e, hop, roots, problem.acquisition_s, packet)
    rows, _ = find_edges(e, n, route.senders, route.receivers)
    total = 0.0
    for j in joules[rows]:  # in path order, as the route walks them
        total += float(j)
    return route.latency_s, 2.0 * total


#: Objective units per reference round time (the latency scale) that a cadence round pays for each second past its
#: deadline, times the sum of the weights: steep enough that no saving elsewhere buys a late round where an
#: on-time one exists, finite so a forest that cannot meet the deadline is still ranked by how late it is.
LATE_WEIGHT = 100.0


def time_cost(problem: SpanningProblem, latency_s: float) -> float:
    """The objective's latency term: ``w_latency T / scale`` back to back; on a cadence only lateness counts.

    >>> import numpy as np
    >>> from optimization import SpanningProblem
    >>> p = SpanningProblem(2, np.array([[0, 1]]), [1000.0], [1e10], deadline_s=600.0)
    >>> time_cost(p, 599.0)
    0.0
    """
    if problem.deadline_s is None:
        return problem.weights.latency * float(latency_s) / objective_scales(problem)[2]
    return lateness_rate(problem) * max(float(latency_s) - problem.deadline_s, 0.0)


def lateness_rate(problem: SpanningProblem) -> float:
    """Objective units per second a cadence round runs past its deadline: ``LATE_WEIGHT`` times the sum of
    the weights over the latency scale. The one lateness price (``time_cost`` and the exact resources)."""
    w = problem.weights
    return LATE_WEIGHT * (w.loss + w.energy + w.latency) / objective_scales(problem)[2]


def objective_scales(problem: SpanningProblem) -> tuple[float, float, float]:
    """Normalisers (bound, energy, latency): explicit ones, else one constellation-wide reference.

    The reference is the distance minimum spanning forest with one tree per component, degree limits
    and budgets ignored, at full clock and power with the fewest steps and smallest batch. It never
    fails and does not depend on `num_trees`, so every forest, cluster and K is scored on one scale.
    """
    if problem.weights.scales is not None:
        return problem.weights.scales
    if "scales" not in problem.cache:
        n = problem.num_nodes
        e = problem.edges
        graph = coo_matrix((problem.distance_km + 1e-9, (e[:, 0], e[:, 1])), shape=(n, n))
        mst = minimum_spanning_tree(graph).tocoo()
        tree_edges = np.stack([np.minimum(mst.row, mst.col), np.maximum(mst.row, mst.col)], axis=1)
        parent = orient_forest(n, tree_edges, mst.data)
        res = problem.resources
        e_lo = problem.step_bounds()[0]
        b_lo = problem.batch_limits()[0]
        rc = round_costs(problem, parent, res.max_cpu_hz, res.max_tx_power_w, np.full(n, e_lo), b_lo)
        k = int((parent < 0).sum())
        b = bound_terms(problem.learning, res.num_samples, np.full(n, e_lo), b_lo,
                        drift_exposure(rc.latency_s, problem.deadline_s), problem.min_idle_s, k)
        problem.cache["scales"] = (b.total, rc.energy_j, rc.latency_s)
    return problem.cache["scales"]


def evaluate(
    problem: SpanningProblem,
    parent: np.ndarray,
    cpu_hz: np.ndarray | float,
    tx_power_w: np.ndarray | float,
    local_steps: np.ndarray | float,
    batch_size: np.ndarray | float,
    idle_s: np.ndarray | float = 0.0,
) -> PlanCosts:
    """Round latency, energy, convergence bound and weighted objective of a forest with given resources."""
    n = problem.num_nodes
    f = as_vector("cpu_hz", cpu_hz, n)
    p = as_vector("tx_power_w", tx_power_w, n)
    e = as_vector("local_steps", local_steps, n)
    b = as_vector("batch_size", batch_size, n)
    idle = as_vector("idle_s", idle_s, n, positive=False)
    if (idle < 0).any():
        raise InvalidProblemError(f"idle_s[{int(np.flatnonzero(idle < 0)[0])}] must be >= 0")
    parent = np.asarray(parent)
    rc = round_costs(problem, parent, f, p, e, b)
    roots = np.flatnonzero(parent < 0)
    mix_t, mix_e = mixing_costs(problem, roots)
    every = problem.learning.mix_every
    # Charged per round: the round itself plus its share of the exchange that happens every `mix_every` rounds.
    latency = rc.latency_s + mix_t / every
    energy = rc.energy_j + mix_e / every
    bound = bound_terms(problem.learning, problem.resources.num_samples, e, b, drift_exposure(latency, problem.deadline_s), idle,
                        len(roots)).total
    sb, se, _ = objective_scales(problem)
    w = problem.weights
    objective = w.loss * bound / sb + w.energy * energy / se + time_cost(problem, latency)
    return PlanCosts(rc.latency_s, rc.energy_j, float(bound), float(objective), rc.node_energy_j, rc.up_time_s,
                     rc.down_time_s, mix_t, mix_e)
