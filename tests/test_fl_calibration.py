"""The calibration probe recovers known constants on a synthetic quadratic and runs on the digits MLP."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
from torch import nn

from fedspan.calibration import CalibrationError, estimate_constants, to_learning_constants
from fedspan.data import load_digits
from fedspan.errors import FedSpanWarning
from fedspan.models import make_model
from fedspan.partition import dirichlet, iid
from optimization.problem import LearningConstants

DIM = 6
EIGS = np.array([10.0, 5.0, 3.0, 2.0, 1.0, 0.5])


class Quadratic(nn.Module):
    """Sample i of client n has loss 0.5 (w - c_n)^T A (w - c_n) + xi_i^T w; the input row is [c_n, xi_i]."""

    def __init__(self, A: torch.Tensor, w0: torch.Tensor):
        super().__init__()
        self.register_buffer("A", A)
        self.w = nn.Parameter(w0.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, xi = x[:, :DIM], x[:, DIM:]
        d = self.w - c
        return 0.5 * ((d @ self.A) * d).sum(dim=1) + xi @ self.w


def mean_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return out.mean()


def quadratic_problem(sizes, sigma2, centred: bool, seed: int = 0):
    """Clients with known centres c_n and noise of known per-sample variance sigma2[n]."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(DIM, DIM, generator=g, dtype=torch.float64))
    A = q @ torch.diag(torch.as_tensor(EIGS)) @ q.T
    centres = 2.0 * torch.randn(len(sizes), DIM, generator=g, dtype=torch.float64)
    data = []
    for n, (size, s2) in enumerate(zip(sizes, sigma2)):
        xi = torch.randn(size, DIM, generator=g, dtype=torch.float64)
        if centred:  # exact: sample mean 0, sample variance (over D - 1) exactly s2
            xi = xi - xi.mean(dim=0)
            xi = xi * np.sqrt(s2 * (size - 1) / float((xi ** 2).sum()))
        else:  # population variance s2
            xi = xi * np.sqrt(s2 / DIM)
        x = torch.cat([centres[n].expand(size, DIM), xi], dim=1)
        data.append((x, torch.zeros(size, dtype=torch.long)))
    w0 = torch.randn(DIM, generator=g, dtype=torch.float64)
    rho = np.array(sizes, float) / sum(sizes)
    c = centres.numpy()
    cbar = rho @ c
    a = A.numpy()
    zeta2 = float(sum(r * np.sum((a @ (cn - cbar)) ** 2) for r, cn in zip(rho, c)))
    f_star = float(sum(r * 0.5 * (cn - cbar) @ a @ (cn - cbar) for r, cn in zip(rho, c)))
    f0 = float(sum(r * 0.5 * (w0.numpy() - cn) @ a @ (w0.numpy() - cn) for r, cn in zip(rho, c)))
    return Quadratic(A, w0), data, zeta2, f_star, f0


def test_recovers_known_constants_on_a_quadratic():
    sizes = [20, 35, 50, 12, 60, 41, 27, 33]
    sigma2 = [0.5, 1.0, 2.0, 4.0, 0.25, 1.5, 3.0, 0.8]
    model, data, zeta2, f_star, f0 = quadratic_problem(sizes, sigma2, centred=True)
    before = [p.detach().clone() for p in model.parameters()]
    cal = estimate_constants(model, data, mean_loss, batch=256, probes=30, points=5, loss_lower_bound=f_star)
    assert abs(cal.smoothness - EIGS.max()) / EIGS.max() < 0.10
    np.testing.assert_allclose(cal.grad_variance, sigma2, rtol=0.20)
    assert cal.dissimilarity_scale >= 1.0
    assert abs(cal.dissimilarity_scale - 1.0) < 0.05  # truth: zeta1 = 1 (spread is constant in w)
    assert abs(cal.dissimilarity - zeta2) / zeta2 < 0.10
    assert abs(cal.initial_gap - (f0 - f_star)) / (f0 - f_star) < 1e-6
    # The bound holds at every probed point with the fitted constants.
    pts = cal.diagnostics["dissimilarity_points"]
    for G, L in zip(pts["global_sq"], pts["weighted_local_sq"]):
        assert L <= cal.dissimilarity_scale * G + cal.dissimilarity + 1e-9
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_variance_from_a_subsample_of_large_satellites():
    sizes = [3000, 2000, 1500]
    sigma2 = [0.5, 2.0, 8.0]
    model, data, _, _, _ = quadratic_problem(sizes, sigma2, centred=False, seed=3)
    cal = estimate_constants(model, data, mean_loss, batch=512, probes=30, points=2, seed=1)
    assert cal.diagnostics["samples_used"] == [512, 512, 512]
    np.testing.assert_allclose(cal.grad_variance, sigma2, rtol=0.20)
    assert abs(cal.smoothness - EIGS.max()) / EIGS.max() < 0.10


def test_digits_mlp_smoke_and_learning_constants():
    digits = load_digits()
    labels = digits.y_train.numpy()
    parts = dirichlet(labels, 66, 0.3, np.random.default_rng(0))
    data = [(digits.x_train[torch.from_numpy(p)], digits.y_train[torch.from_numpy(p)]) for p in parts]
    model = make_model("mlp", digits.input_shape, digits.num_classes)
    t0 = time.perf_counter()
    cal = estimate_constants(model, data)
    assert time.perf_counter() - t0 < 30.0  # about 0.2 s warm; generous for loaded CI
    vals = [cal.smoothness, cal.dissimilarity_scale, cal.dissimilarity, cal.initial_gap]
    assert all(np.isfinite(v) for v in vals)
    assert cal.smoothness > 0 and cal.initial_gap > 0 and cal.dissimilarity >= 0
    assert cal.dissimilarity_scale >= 1.0
    assert cal.grad_variance.shape == (66,)
    assert np.all(np.isfinite(cal.grad_variance)) and np.all(cal.grad_variance > 0)
    assert abs(cal.initial_gap - np.log(10)) < 1.0  # cross entropy of a fresh 10-class model
    base = LearningConstants(learning_rate=0.05, rounds=7)
    lc = to_learning_constants(cal, base)
    assert (lc.learning_rate, lc.rounds, lc.drift_per_s) == (0.05, 7, base.drift_per_s)
    assert lc.smoothness == cal.smoothness and lc.dissimilarity_scale == cal.dissimilarity_scale
    np.testing.assert_array_equal(lc.grad_variance, cal.grad_variance)
    assert dataclasses.replace(lc) == lc


def test_satellites_without_enough_data_get_the_mean_variance():
    digits = load_digits()
    parts = iid(digits.y_train.numpy(), 4, np.random.default_rng(0))
    data = [(digits.x_train[torch.from_numpy(p)], digits.y_train[torch.from_numpy(p)]) for p in parts]
    data.append((digits.x_train[:0], digits.y_train[:0]))
    data.append((digits.x_train[:1], digits.y_train[:1]))
    cal = estimate_constants(make_model("mlp", digits.input_shape, digits.num_classes), data, batch=64, probes=5,
                             points=2)
    assert cal.diagnostics["satellites_without_variance"] == 2
    assert np.all(cal.grad_variance > 0)
    np.testing.assert_allclose(cal.grad_variance[4], cal.grad_variance[5])


def test_input_errors():
    model = make_model("mlp", (1, 8, 8), 10)
    with pytest.raises(CalibrationError):
        estimate_constants(model, [])
    with pytest.raises(CalibrationError):
        estimate_constants(model, [(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))])
    with pytest.raises(CalibrationError):
        estimate_constants(model, [(torch.zeros(3, 1, 8, 8), torch.zeros(2, dtype=torch.long))])
    with pytest.raises(CalibrationError):
        estimate_constants(model, [(torch.zeros(3, 1, 8, 8), torch.zeros(3, dtype=torch.long))], batch=1)


def test_simulation_calibrate_plans_with_measured_constants():
    from fedspan.simulation import Simulation, SimulationConfig, run_simulation

    plain = SimulationConfig(strategy="fedspan", rounds=1, lr=0.1)
    assert "calibrate" not in plain.fingerprint() and Simulation(plain).calibration is None
    too_fast = SimulationConfig(strategy="fedspan", rounds=1, lr=0.1, calibrate=True, partition="dirichlet", alpha=0.3)
    # measured beta ~ 1.9, zeta1 ~ 6.7: the step-size condition for 10 steps needs lr < 0.003. The run goes on
    # with the bound as a model (the condition no longer caps the steps) and says so.
    with pytest.warns(FedSpanWarning, match="step-size condition"):
        fast = Simulation(too_fast)
    assert fast.scenario.config.learning.step_condition is False
    assert fast.scenario.config.learning.max_local_steps() == np.inf
    cfg = dataclasses.replace(too_fast, lr=0.01)
    assert cfg.fingerprint()["calibrate"] is True
    sim = Simulation(cfg)
    cal, lc = sim.calibration, sim.scenario.config.learning
    assert lc.smoothness == cal.smoothness != plain.smoothness
    assert (lc.dissimilarity_scale, lc.dissimilarity, lc.initial_gap) == (
        cal.dissimilarity_scale, cal.dissimilarity, cal.initial_gap)
    assert np.ndim(lc.grad_variance) == 0 and cal.grad_variance.min() <= lc.grad_variance <= cal.grad_variance.max()
    assert (lc.learning_rate, lc.rounds) == (0.01, 1) and lc.max_local_steps() >= 1
    result = run_simulation(cfg)
    assert len(result.metrics) == 1 and np.isfinite(result.metrics[0].test_accuracy)
    row = result.metrics[0]  # the bound's prediction beside the observed decrease on the probe samples
    assert np.isfinite([row.probe_loss_before, row.probe_loss_after, row.probe_grad_sq, row.predicted_decrease]).all()
    assert row.observed_decrease == row.probe_loss_before - row.probe_loss_after
    assert row.probe_loss_before == pytest.approx(cal.initial_gap, rel=0.2)  # same model, a different sample
    with pytest.raises(Exception, match="calibrate"):
        SimulationConfig(calibrate="yes").validate()


def test_calibration_is_refreshed_on_the_current_model_and_data():
    """calibrate_every: the constants are measured again on the trained model and the round's (drifting) data."""
    import warnings

    from fedspan.clock import EnergyLedger
    from fedspan.simulation import Simulation, SimulationConfig

    cfg = SimulationConfig(strategy="mst", rounds=3, lr=0.05, calibrate=True, calibrate_every=2, partition="regional",
                           round_interval_s=600.0, max_test=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = Simulation(cfg)
        state, ledger = sim.initial_state(), EnergyLedger(sim.num_satellites)
        first = sim.calibration
        sim.step(state, ledger)  # round 0: planned with the probe taken before it
        assert sim.calibration is first
        sim.step(state, ledger)  # round 1: not a multiple of 2
        assert sim.calibration is first
        sim.step(state, ledger)  # round 2: probed again
    again = sim.calibration
    assert again is not first
    # trained for two rounds: the loss (the gap's upper bound) fell, and the planner sees the new constants
    assert again.initial_gap < first.initial_gap
    assert sim.scenario.config.learning.initial_gap == again.initial_gap
