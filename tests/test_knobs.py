"""Knobs for time to accuracy (`optimization.knobs`, `fedspan.knob_probe`): the progress model's algebra, the
grid choice against an independent brute force over clocks, the planner's use of it, and the probe's fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from optimization import InvalidProblemError, SpanningProblem, evaluate, solve
from optimization.costs import round_costs
from optimization.evaluate import objective_scales
from optimization.knobs import ProgressModel, candidate_batches, choose_knobs, pin_knobs, to_target
from optimization.problem import SatelliteResources
from optimization.resources import optimal_resources

SQUARE = (4, np.array([[0, 1], [1, 2], [2, 3], [0, 3]]), [900.0, 1200, 800, 1500], [1e10] * 4)


def star(**kw) -> SpanningProblem:
    """Root 0 with three identical children on slow links (communication matters, powers at the knee)."""
    kw.setdefault("model_bits", 2e8)
    return SpanningProblem(4, np.array([[0, 1], [0, 2], [0, 3]]), [1000.0] * 3, [2e8] * 3, max_rate_bps=2e8, **kw)


STAR = np.array([-1, 0, 0, 0])


# --- ProgressModel ----------------------------------------------------------------------------------
def test_rounds_factor_algebra():
    m = ProgressModel(step_exponent=0.5, batch_exponent=0.5)
    assert m.rounds_factor(1, 16) == pytest.approx(0.25)
    assert m.rounds_factor(4, 16) == pytest.approx(0.125)  # e^a = 2 halves the rounds
    grid = m.rounds_factor(np.array([1, 4, 16]), np.array([4, 4, 4]))
    assert np.allclose(grid, [0.5, 0.25, 0.125])
    assert ProgressModel(1.0, 0.0).rounds_factor(8, 8) == pytest.approx(1 / 8)
    assert ProgressModel(0.0, 0.0).rounds_factor(8, 8) == pytest.approx(1.0)  # knobs worth nothing
    assert ProgressModel.from_dict(m.to_dict()) == m
    for bad in ((-0.1, 0.5), (float("nan"), 0.5), (0.5, 1.5), (1.1, 0.0)):
        with pytest.raises(InvalidProblemError):
            ProgressModel(*bad)
    with pytest.raises(InvalidProblemError):
        SpanningProblem(*SQUARE, progress=(1.0, 0.5))


def test_candidate_batches_within_bounds():
    assert candidate_batches(SpanningProblem(*SQUARE)).tolist() == [8, 16, 32, 64]
    assert candidate_batches(SpanningProblem(*SQUARE, batch_bounds=(5, 5))).tolist() == [5]


# --- choose_knobs against an independent brute force ------------------------------------------------
def _reference_round_cost(problem: SpanningProblem, e: int, b: int) -> float:
    """min over the clocks of w_E E / s_E + w_T T / s_T by brute force on the star (children alike by
    symmetry: a 2-D search over the root's and the children's clock), costs from `round_costs`. The root may
    hold fewer samples than B (it then trains on all of them)."""
    res = problem.resources
    power = np.clip(problem.max_rate_bps / problem.rate_per_watt[0], res.min_tx_power_w, res.max_tx_power_w)
    _, se, st = objective_scales(problem)
    w = problem.weights
    steps, batch = np.full(4, float(e)), np.minimum(float(b), res.num_samples)

    def cost(logf: np.ndarray) -> float:
        f = np.exp(np.clip(logf, np.log(res.min_cpu_hz[0]), np.log(res.max_cpu_hz[0])))
        rc = round_costs(problem, STAR, np.array([f[0], f[1], f[1], f[1]]), np.full(4, power), steps, batch)
        return w.energy * rc.energy_j / se + w.latency * rc.latency_s / st

    axis = np.linspace(np.log(res.min_cpu_hz[0]), np.log(res.max_cpu_hz[0]), 40)
    values = np.array([[cost(np.array([a, c])) for c in axis] for a in axis])
    i, j = np.unravel_index(int(np.argmin(values)), values.shape)
    best = minimize(cost, np.array([axis[i], axis[j]]), method="Nelder-Mead",
                    options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
    return float(min(best.fun, values[i, j]))


def test_choose_knobs_matches_a_brute_force_over_clocks():
    problem = star(resources=SatelliteResources.uniform(4, num_samples=[40, 500, 500, 500]))
    model = ProgressModel(step_exponent=0.7, batch_exponent=0.3)
    steps, batches = [1, 6], [8, 32, 64]
    choice = choose_knobs(problem, STAR, model, steps=steps, batches=batches)
    rho = problem.resources.num_samples / problem.resources.num_samples.sum()
    reference = np.array([[model.rounds_factor(e, rho @ np.minimum(b, problem.resources.num_samples))
                           * _reference_round_cost(problem, e, b) for b in batches] for e in steps])
    assert np.allclose(choice.objective_grid, reference, rtol=2e-4)
    # The exact clocks are never worse than the numerical search.
    assert (choice.objective_grid <= reference * (1 + 1e-7)).all()
    i, j = np.unravel_index(int(np.argmin(reference)), reference.shape)
    assert choice.knobs() == (steps[i], batches[j])
    assert choice.objective == pytest.approx(reference.min(), rel=2e-4)


def test_batch_buying_nothing_and_additive_steps_back_to_back_pick_the_smallest_batch():
    for problem in (SpanningProblem(*SQUARE), star(), star(batch_bounds=(4, 128))):
        choice = choose_knobs(problem, STAR if problem.num_edges == 3 else np.array([1, -1, 1, 2]),
                              ProgressModel(step_exponent=1.0, batch_exponent=0.0))
        assert choice.batch_size == problem.batch_bounds[0]
        assert np.isfinite(choice.objective_grid).all()


def test_a_batch_worth_its_cost_picks_larger_batches():
    small = choose_knobs(star(), STAR, ProgressModel(step_exponent=0.5, batch_exponent=0.0))
    large = choose_knobs(star(), STAR, ProgressModel(step_exponent=0.5, batch_exponent=1.0))
    assert large.batch_size > small.batch_size
    assert large.batch_size == 64


def test_on_a_cadence_the_choice_meets_the_deadline():
    free = choose_knobs(star(), STAR, ProgressModel(1.0, 0.0))
    deadline = 2.5
    problem = star(deadline_s=deadline)
    choice = choose_knobs(problem, STAR, ProgressModel(1.0, 0.0))
    assert choice.feasible and choice.latency_s <= deadline * (1 + 1e-6)
    # The deadline binds: the next step count at the chosen batch misses it, and free of it more steps win.
    i = list(choice.steps).index(choice.local_steps)
    j = list(choice.batches).index(choice.batch_size)
    assert not np.isfinite(choice.objective_grid[i + 1, j])
    assert free.local_steps > choice.local_steps
    # J on a cadence counts the whole interval: R * (w_E E / s_E + w_T D / s_T).
    _, se, st = objective_scales(problem)
    expected = choice.rounds_factor * (problem.weights.energy * choice.energy_j / se
                                       + problem.weights.latency * deadline / st)
    assert choice.objective == pytest.approx(expected, rel=1e-9)


def test_choose_knobs_needs_a_model():
    with pytest.raises(InvalidProblemError):
        choose_knobs(SpanningProblem(*SQUARE), np.array([1, -1, 1, 2]))


# --- the planner -----------------------------------------------------------------------------------
def test_planner_without_a_progress_model_is_unchanged():
    """Objectives of main before the knob rule existed (commit 6f06b56), to rounding error."""
    plan = solve(SpanningProblem(*SQUARE))
    assert plan.objective == pytest.approx(2.775395762502358, rel=1e-9) and plan.knobs is None
    assert solve(SpanningProblem(*SQUARE, deadline_s=5.0)).objective == pytest.approx(0.2062681107862259, rel=1e-9)
    _, costs = optimal_resources(SpanningProblem(*SQUARE), np.array([-1, 0, 1, 0]))
    assert costs.objective == pytest.approx(2.785628355540731, rel=1e-9)


def test_planner_with_a_progress_model_pins_the_chosen_knobs_and_certifies_them():
    model = ProgressModel(step_exponent=0.9, batch_exponent=0.5)
    problem = star(progress=model)
    plan = solve(problem)
    e, b = int(plan.local_steps[0]), int(plan.batch_size[0])
    assert (plan.local_steps == e).all() and (plan.batch_size == b).all()
    assert (e, b) == (plan.knobs["local_steps"], plan.knobs["batch_size"])
    assert plan.knobs["progress"] == model.to_dict()
    # Re-checked on the final forest: the choice there is the plan's knobs (or it was re-planned once).
    assert choose_knobs(problem, plan.parent).knobs() == (e, b) or sum(
        h["phase"] == "knobs" for h in plan.history) >= 1
    # The bound is the certificate of the plan's knobs; the objective is the to-target J.
    certified = evaluate(problem, plan.parent, plan.cpu_hz, plan.tx_power_w, plan.local_steps, plan.batch_size,
                         plan.idle_s)
    assert plan.bound == pytest.approx(certified.bound, rel=1e-12)
    target = to_target(problem, model, plan.parent, plan.cpu_hz, plan.tx_power_w, plan.local_steps,
                       plan.batch_size)
    assert plan.objective == pytest.approx(target.objective, rel=1e-12)
    # No worse than the best grid point on the warm forest, which the planner started from.
    assert plan.objective <= choose_knobs(problem, STAR).objective * (1 + 1e-9)
    # The bound's rule picks other knobs here: the one-step, smallest-batch plan.
    by_bound = solve(star())
    assert (int(by_bound.local_steps[0]), int(by_bound.batch_size[0])) != (e, b)


def test_pinned_batch_larger_than_a_satellites_data():
    res = SatelliteResources.uniform(4, num_samples=[500, 12, 500, 500])
    problem = star(resources=res)
    pinned = pin_knobs(problem, 3, 32)
    assert pinned.batch_limits()[0].tolist() == [32, 12, 32, 32]
    plan = solve(pinned)
    assert plan.batch_size.tolist() == [32, 12, 32, 32] and (plan.local_steps == 3).all()
    # A pinned step count at the step-size condition's cap is accepted; one past it is not.
    capped = star(resources=res, learning=problem.learning.__class__(smoothness=2.0, learning_rate=0.01))
    cap = int(capped.step_bounds()[1])
    assert pin_knobs(capped, cap, 8).local_steps_bounds == (cap, cap)
    with pytest.raises(InvalidProblemError):
        pin_knobs(capped, cap + 1, 8)
    # Unpinned bounds still refuse a satellite below the smallest batch.
    with pytest.raises(InvalidProblemError):
        star(resources=res, batch_bounds=(16, 64))


def test_exact_resources_use_the_knob_rule_with_a_progress_model():
    model = ProgressModel(step_exponent=1.0, batch_exponent=1.0)
    problem = star(progress=model)
    res, costs = optimal_resources(problem, STAR)
    choice = choose_knobs(problem, STAR)
    assert (res.local_steps == choice.local_steps).all() and (res.batch_size == choice.batch_size).all()
    assert costs.objective == pytest.approx(to_target(problem, model, STAR, res.cpu_hz, res.tx_power_w,
                                                      res.local_steps, res.batch_size).objective)
    assert costs.objective <= choice.objective * (1 + 1e-9)  # power tuning may only help
    by_bound, _ = optimal_resources(star(), STAR)
    assert (by_bound.batch_size != res.batch_size).any()


# --- the probe (fedspan.knob_probe) and the run ------------------------------------------------------
def _linear_clients(n: int = 6, size: int = 40, seed: int = 0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, generator=gen, dtype=torch.float64), torch.zeros(size, dtype=torch.long))
            for _ in range(n)]


def test_probe_fits_additive_local_steps_to_an_exponent_of_one():
    """A loss linear in the weights has a constant gradient: e local steps decrease it exactly e times as much
    as one (every satellite, every batch), so the fit is a = 1; a strongly convex quadratic with a large step
    saturates after a step or two, so a is small."""
    import torch
    from torch import nn

    from fedspan.knob_probe import fit_progress_model

    torch.manual_seed(0)
    model = nn.Linear(3, 1, dtype=torch.float64)
    clients = _linear_clients()

    def linear(out, _y):
        return -out.mean() + 0.0 * out.sum()  # d/dw is the mean input: constant in w

    fitted = fit_progress_model(model, clients, lr=0.01, batch_bounds=(40, 64), seed=3, loss_fn=linear)
    assert fitted.model.step_exponent == pytest.approx(1.0, abs=1e-6)
    assert [p[0] for p in fitted.diagnostics["trial"]] == [1, 2, 4, 8]  # one batch: 40 is the clients' data
    assert fitted.model.batch_exponent == 0.0  # one batch size measures nothing about batches
    again = fit_progress_model(model, clients, lr=0.01, batch_bounds=(40, 64), seed=3, loss_fn=linear)
    assert again.model == fitted.model  # deterministic

    def quadratic(out, _y):
        return 0.5 * (out ** 2).mean()

    saturating = fit_progress_model(model, clients, lr=0.9, batch_bounds=(40, 64), seed=3, loss_fn=quadratic)
    assert saturating.model.step_exponent < 0.5
    # Steps outside the run's bounds are not tried.
    trial = fit_progress_model(model, clients, lr=0.01, step_bounds=(2, 5), loss_fn=linear).diagnostics["trial"]
    assert [(e, b) for e, b, _ in trial] == [(2, 8), (4, 8), (2, 32), (4, 32)]  # two batch sizes fit the data


def test_an_exponent_within_its_standard_error_of_zero_counts_as_zero():
    """Least squares on (log e, log B): a batch effect buried in noise is set to zero, a clear one is kept. The
    reference is the textbook OLS standard error, computed here from the normal equations."""
    from fedspan.knob_probe import fit_exponents

    steps = [1, 2, 4, 8] * 2
    batches = [8] * 4 + [32] * 4
    noise = np.array([0.03, -0.02, 0.01, -0.03, -0.01, 0.03, -0.02, 0.02])
    clean = 0.7 * np.log(steps)
    small_b = np.exp(clean + 0.005 * np.log(batches) + noise)  # b = 0.005 against noise of a few percent
    a, b = fit_exponents(steps, batches, small_b)
    x = np.stack([np.ones(8), np.log(steps), np.log(batches)], axis=1)
    coef, res, *_ = np.linalg.lstsq(x, np.log(small_b), rcond=None)
    se_b = np.sqrt(res[0] / (8 - 3) * np.linalg.inv(x.T @ x)[2, 2])
    assert abs(coef[2]) <= se_b and b == 0.0 and a == pytest.approx(coef[1])
    a, b = fit_exponents(steps, batches, np.exp(clean + 0.3 * np.log(batches) + noise))
    assert b == pytest.approx(0.3, abs=0.05) and a == pytest.approx(0.7, abs=0.05)


def test_run_with_default_knobs_records_the_fitted_model(tmp_path, capsys):
    import json

    from cli_run import run_cli
    from fedspan.checkpoint import CHECKPOINT_NAME, load_checkpoint

    code, _, err = run_cli(["run", "--preset", "small", "--rounds", "2", "-o", str(tmp_path)], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert summary["config"]["knobs"] == "time-to-accuracy"
    model = ProgressModel.from_dict(summary["progress_model"])
    assert 0.0 <= model.batch_exponent <= 1 and 0.05 <= model.step_exponent <= 1
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state.extra["progress_model"] == summary["progress_model"]  # a resumed run reuses it


def test_resumed_run_reuses_the_checkpointed_model_without_probing(tmp_path, monkeypatch):
    import fedspan.knob_probe as probe
    from fedspan.simulation import SimulationConfig, run_simulation

    cfg = SimulationConfig(rounds=2, output_dir=str(tmp_path), max_train=400, max_test=100)

    def stop(_metrics):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulation(cfg, on_round=stop)

    def refuse(*_a, **_k):
        raise AssertionError("probed again on resume")

    monkeypatch.setattr(probe, "fit_progress_model", refuse)
    again = run_simulation(cfg)
    assert again.resumed_from_round == 1 and len(again.metrics) == 2


def test_refit_every_n_rounds_fits_the_current_global_model_and_resumes_as_a_straight_run(tmp_path):
    """--refit-knobs-every 2: at round 2 the exponents are fitted again by the probe trial on the global model
    after round 1 and round 2's data (checked by calling the probe directly on the checkpointed model); a run
    interrupted after round 1 and resumed refits where the straight run did and ends with the same rows."""
    import copy

    import torch

    from fedspan.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from fedspan.knob_probe import fit_progress_model
    from fedspan.models import load_flat
    from fedspan.simulation import Simulation, SimulationConfig, SimulationError, run_simulation

    def config(out):  # BFS with exact resources chooses its knobs by the same rule, and plans deterministically
        return SimulationConfig(rounds=3, refit_knobs_every=2, output_dir=str(out), max_train=400, max_test=100,
                                schedule="back-to-back", strategy="bfs", strategy_options={"power": "exact"})

    def stop_after(n):
        def on_round(metrics):
            if metrics.round == n - 1:
                raise KeyboardInterrupt
        return on_round

    with pytest.raises(KeyboardInterrupt):
        run_simulation(config(tmp_path / "ref"), on_round=stop_after(2))
    sim = Simulation(config(tmp_path / "ref"))
    state = load_checkpoint(tmp_path / "ref" / CHECKPOINT_NAME)
    first = ProgressModel.from_dict(state.extra["progress_model"])
    x, y = sim.dataset.x_train, sim.dataset.y_train
    data = [(x[torch.as_tensor(ix)], y[torch.as_tensor(ix)]) for ix in sim.client_data(state, state.next_time_s)]
    expected = fit_progress_model(load_flat(copy.deepcopy(sim.model), sim.global_model(state)), data,
                                  sim.config.lr, step_bounds=sim.scenario.config.local_steps_bounds,
                                  batch_bounds=sim.scenario.config.batch_bounds, seed=sim.config.seed + 2).model

    straight = run_simulation(config(tmp_path / "straight"))
    assert ProgressModel.from_dict(straight.progress_model) == expected != first
    with pytest.raises(KeyboardInterrupt):
        run_simulation(config(tmp_path / "resumed"), on_round=stop_after(1))
    resumed = run_simulation(config(tmp_path / "resumed"))
    assert resumed.resumed_from_round == 1 and resumed.progress_model == straight.progress_model
    assert torch.equal(resumed.models, straight.models)
    assert (tmp_path / "resumed" / "metrics.csv").read_bytes() == (tmp_path / "straight" / "metrics.csv").read_bytes()
    with pytest.raises(SimulationError, match="refit_knobs_every"):
        SimulationConfig(refit_knobs_every=-1).validate()


def test_knobs_bound_plans_as_before_and_bad_models_are_refused(tmp_path):
    from fedspan.checkpoint import _extra_problem
    from fedspan.simulation import SimulationConfig, SimulationError, run_simulation

    run = run_simulation(SimulationConfig(rounds=1, knobs="bound", max_train=400, max_test=100))
    assert run.metrics[0].mean_batch_size == 8  # the bound's rule: the smallest batch
    with pytest.raises(SimulationError, match="knobs"):
        SimulationConfig(knobs="fastest").validate()
    assert _extra_problem({"progress_model": {"step_exponent": 0.5, "batch_exponent": 0.1}}, 4) is None
    assert "progress_model" in _extra_problem({"progress_model": {"step_exponent": 0.5, "batch_exponent": -1}}, 4)
    assert "progress_model" in _extra_problem({"progress_model": {"step_exponent": 1.0}}, 4)


def test_only_policies_that_choose_their_knobs_pay_for_the_probe(monkeypatch):
    import fedspan.knob_probe as probe
    from fedspan.simulation import SimulationConfig, run_simulation

    fitted = []
    real = probe.fit_progress_model

    def counting(*args, **kwargs):
        fitted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(probe, "fit_progress_model", counting)
    base = dict(rounds=1, max_train=400, max_test=100)
    for strategy, options in (("bfs", {}), ("bfs", {"power": "dvfs"}), ("ring", {"power": "dvfs"}), ("gossip", {})):
        run = run_simulation(SimulationConfig(strategy=strategy, strategy_options=options, **base))
        assert run.progress_model is None  # trains the run's steps and batch: nothing to fit
    assert not fitted
    run = run_simulation(SimulationConfig(strategy="bfs", strategy_options={"power": "exact"}, **base))
    assert fitted == [1] and run.progress_model is not None
