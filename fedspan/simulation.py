"""The simulation loop: rounds of planning, training, spanning aggregation and accounting.

Every round happens at its own time on the moving constellation: the candidate links, the
data each satellite holds (regional mode), who is alive and the plan all come from that
instant. Randomness is derived from ``(seed, round)`` (and the data stream's own generator,
checkpointed), so a run is reproducible and resumes bit-identically after an interruption.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fedspan.batteries import ECLIPSE_RESERVE_S, Batteries, RoundSunlight  # noqa: F401  (re-exported)
from fedspan.backend import InProcessBackend, RoundUpdate, RoundWork, TrainingBackend  # noqa: F401  (re-exported)
from fedspan.calibration import LossProbe
from fedspan.checkpoint import SimulationState
from fedspan.config import (  # noqa: F401  (re-exported: the config's home is fedspan.config)
    BACKENDS,
    HORIZON_FREE_POLICIES,
    PARTITIONS,
    SimulationConfig,
    SimulationError,
    plans_with_horizon,
)
from fedspan.clock import EnergyLedger, RoundCost, RoundRecord, cadence_deadline
from fedspan.data import load_dataset
from fedspan.errors import FedSpanWarning
from fedspan.faults import FaultEvent, faulted_cost, parse_fault_schedule, random_faults, round_faults
from fedspan.metrics import RoundMetrics
from fedspan.models import flatten_params, load_flat, make_model, model_bits
from fedspan.partition import RegionalStream
from fedspan.run_setup import (  # noqa: F401  (re-exported: their home was fedspan.simulation)
    build_scenario,
    data_weights,
    hardware_arrays,
    link_params,
    make_policy,
    model_flops,
    plan_sample_weights,
    scenario_for,
    static_partition,
)
from fedspan.runlock import lock_output_folder
from fedspan.runner import RunResult, run_rounds  # noqa: F401  (RunResult re-exported)
from fedspan.strategies import RoundContext, RoundPlan
from fedspan.strategies.isolated import plan_round
from fedspan.training import BatchedTrainer, evaluate
from optimization.bound import drift_exposure, predicted_decrease
from optimization.progress_model import ProgressModel

ProgressCallback = Callable[[int, int, RoundMetrics], None]

#: How many times a round is planned again without the satellites whose battery cannot pay for their share. Shares
#: move when the forest does, and a sparse candidate graph (new links must last ten acquisitions) needed 4 on the
#: heavy smallsat-edge test; each is one plan, so a handful costs little beside a round that drains batteries.
BATTERY_REPLANS = 8


def _weighted_mean(values: np.ndarray, weight: np.ndarray, include: np.ndarray) -> float:
    """Mean of ``values`` over the included satellites weighted by their data (NaN when none is included)."""
    w = np.where(include, weight, 0.0)
    return float(np.asarray(values, float) @ w / w.sum()) if w.sum() > 0 else float("nan")


class Simulation:
    """A configured run: data, model, constellation, policy and backend, stepped round by round."""

    def __init__(self, config: SimulationConfig, backend: TrainingBackend | None = None) -> None:
        config.validate()
        self.config = c = config
        self.dataset = load_dataset(c.dataset, root=c.data_root).subset(c.max_train, c.max_test, seed=c.seed)
        self.model = make_model(c.model, self.dataset.input_shape, self.dataset.num_classes, width=c.model_width,
                                seed=c.seed)
        self.trainer = BatchedTrainer(self.model, self.dataset.x_train, self.dataset.y_train, c.lr)
        flops = model_flops(c, self.model, self.dataset.input_shape)
        self.scenario = scenario_for(c, c.model_bits or model_bits(self.model), flops)
        self.num_satellites = n = self.scenario.num_satellites
        self.batteries = Batteries(self.scenario, c.schedule, c.round_interval_s)
        self.strategy = make_policy(c)
        self.num_models = self.strategy.num_models(self.scenario)
        self.schedule = parse_fault_schedule(c.faults, n, c.rounds)
        self.backend = backend or self._default_backend()
        self.static_partition = None if c.partition == "regional" else self._partition(n)
        self._warned_empty = False
        self._warned_step_condition = False
        self.calibration = self._calibrate() if c.calibrate else None
        self.probe = LossProbe(self.model, self.dataset.x_train, self.dataset.y_train, seed=c.seed)

    def _calibrate(self, parts: list[np.ndarray] | None = None, flat: torch.Tensor | None = None):
        """Measure the bound's constants on a model and the satellites' data; the planner uses them.

        Before round 0: the initial model and the round-0 data. With ``calibrate_every`` the probe is
        repeated on the current global model (``flat``) and the round's data (``parts``), so the constants
        follow the model and the drifting data. The planner's problems cover only the satellites available
        in a round, so the per-satellite gradient variances enter as their data-weighted mean.
        """
        from fedspan.calibration import estimate_constants, to_learning_constants

        if parts is None:
            parts = self.client_data(self.initial_state(), 0.0)
        model = self.model if flat is None else load_flat(copy.deepcopy(self.model), flat)
        x, y = self.dataset.x_train, self.dataset.y_train
        cal = estimate_constants(model, [(x[torch.as_tensor(ix, dtype=torch.long)],
                                          y[torch.as_tensor(ix, dtype=torch.long)]) for ix in parts],
                                 seed=self.config.seed)
        sizes = np.array([len(ix) for ix in parts], dtype=float)
        sigma2 = float(np.average(cal.grad_variance, weights=sizes)) if sizes.sum() > 0 else 1.0
        learning = replace(to_learning_constants(cal, self.scenario.config.learning), step_condition=True)
        high = self.scenario.config.local_steps_bounds[1]
        if learning.max_local_steps() < high:
            if not self._warned_step_condition:
                self._warned_step_condition = True
                largest = 1.0 / (8.0 * learning.smoothness * high * math.sqrt(learning.dissimilarity_scale))
                # The proof's condition is sufficient, not necessary, and measured constants of real networks put
                # it far below step sizes that train well: plan with the bound as a model, and say so.
                warnings.warn(
                    f"the measured smoothness {learning.smoothness:.3g} and dissimilarity scale "
                    f"{learning.dissimilarity_scale:.3g} meet the bound's step-size condition for {high} local steps "
                    f"only at lr <= {largest:.3g} (config.lr = {self.config.lr!r}); planning with the bound as a model "
                    f"beyond its proof, up to {high} steps", FedSpanWarning, stacklevel=3)
            learning = replace(learning, step_condition=False)
        self.scenario.config.learning = replace(learning, grad_variance=sigma2)
        return cal

    def _refit_due(self, round_index: int) -> bool:
        """Whether round ``round_index`` fits the time-to-accuracy exponents again (``refit_knobs_every``)."""
        every = self.config.refit_knobs_every
        return every > 0 and round_index > 0 and round_index % every == 0

    def _progress_model(self, state: SimulationState, round_index: int = 0) -> ProgressModel:
        """The run's time-to-accuracy model: the checkpoint's (a resumed run does not probe again), else fitted
        on the initial model and the round-0 data (seeded) and kept in ``state.extra`` and the run summary. In a
        round where :meth:`_refit_due`, fitted again on the current global model and the round's data (seeded by
        the round), so a resumed run refits where a straight one does."""
        from fedspan.knob_probe import fit_progress_model

        refit = self._refit_due(round_index)
        if "progress_model" not in state.extra or refit:
            at, time_s = (state, state.next_time_s) if refit else (self.initial_state(), 0.0)
            x, y = self.dataset.x_train, self.dataset.y_train
            index = [torch.as_tensor(ix, dtype=torch.long) for ix in self.client_data(at, time_s)]
            model = load_flat(copy.deepcopy(self.model), self.global_model(at)) if refit else self.model
            fitted = fit_progress_model(model, [(x[ix], y[ix]) for ix in index], self.config.lr,
                                        step_bounds=self.scenario.config.local_steps_bounds,
                                        batch_bounds=self.scenario.config.batch_bounds,
                                        seed=(self.config.seed + round_index) % 2**63)
            state.extra["progress_model"] = fitted.model.to_dict()
        return ProgressModel.from_dict(state.extra["progress_model"])

    def _default_backend(self) -> TrainingBackend:
        if self.config.backend == "distributed":
            from fedspan.distributed_backend import TorchDistributedBackend  # torch.distributed only when asked

            return TorchDistributedBackend(self.trainer)
        return InProcessBackend(self.trainer)

    def _partition(self, n: int) -> list[np.ndarray]:
        return static_partition(self.config, self.dataset.y_train.numpy(), n)

    def initial_state(self) -> SimulationState:
        """State before round 0: every satellite holds the same initial model."""
        n, c = self.num_satellites, self.config
        stream = None
        if c.partition == "regional":
            stream = RegionalStream(self.dataset.y_train.numpy(), n, seed=c.seed, alpha=c.alpha,
                                    arrival_rate=c.arrival_rate, ttl_s=c.data_ttl_s or 3 * c.round_interval_s)
        init = flatten_params(self.model)
        return SimulationState(
            next_round=0, models=init.repeat(self.num_models, 1), model_weight=np.ones(self.num_models),
            holder=np.zeros(n, np.int64) if self.num_models < n else np.arange(n), dead=np.zeros(n, bool),
            energy_used_j=np.zeros(n), next_time_s=0.0, last_latency_s=0.0,
            ledger=EnergyLedger(n).to_dict(), metrics=[], stream=stream)

    def client_data(self, state: SimulationState, time_s: float) -> list[np.ndarray]:
        """Each satellite's sample indices at ``time_s`` (the regional stream moves with the orbits)."""
        if state.stream is None:
            return self.static_partition
        lat, lon = self.scenario.subpoints(time_s)
        active = np.isfinite(lat) & np.isfinite(lon)
        return state.stream.update(time_s, np.where(active, lat, 0.0), np.where(active, lon, 0.0))

    def deadline(self, round_index: int, time_s: float) -> float | None:
        """Seconds from ``time_s`` to the tick that starts the next round; None back to back (``cadence_deadline``)."""
        return cadence_deadline(self.config.schedule, self.config.round_interval_s, round_index, time_s)

    def next_start(self, round_index: int, time_s: float, busy_s: float) -> float:
        """When round ``round_index + 1`` starts: the next tick after this round ends, or right away back to back."""
        end = time_s + busy_s
        if self.config.schedule != "cadence":
            return end
        return max((round_index + 1) * self.config.round_interval_s, end)

    def round_budget(self, budget_left: np.ndarray, round_index: int) -> np.ndarray | None:
        """What the planner may spend per satellite this round: the battery left paced over the rounds left (J)."""
        if not np.isfinite(self.config.energy_budget_j):
            return None
        rounds_left = max(self.config.rounds - round_index, 1)
        return np.maximum(budget_left, 0.0) / rounds_left

    def step(self, state: SimulationState, ledger: EnergyLedger) -> RoundMetrics:
        """Run round ``state.next_round`` and advance ``state`` and ``ledger`` in place."""
        c = self.config
        r = state.next_round
        time_s = state.next_time_s
        if c.knobs == "time-to-accuracy" and self.strategy.chooses_knobs and (
                self.scenario.config.progress is None or self._refit_due(r)):
            self.scenario.config.progress = self._progress_model(state, r)
        window = c.window_s if c.window_s is not None else max(state.last_latency_s, 10.0)
        links_up = np.asarray(state.extra.get("links_up", []), np.int64).reshape(-1, 2)
        snapshot = self.scenario.snapshot(time_s, window, links_up)
        data = self.client_data(state, time_s)
        if c.calibrate and c.calibrate_every and r > 0 and r % c.calibrate_every == 0:
            self.calibration = self._calibrate(data, self.global_model(state))
        sample_weight = np.array([len(d) for d in data], dtype=float)
        budget_left = c.energy_budget_j - state.energy_used_j
        available = ~state.dead & np.asarray(snapshot.active, bool) & (budget_left > 0)
        if not available.any():
            return self._empty_round(state, ledger, time_s, "no satellite is available (dead, out of its energy "
                                                            "budget or dropped by SGP4)")
        budget, battery, flat = self._budgets(state, time_s, budget_left, available)
        available = available & ~flat
        if not available.any():
            return self._empty_round(state, ledger, time_s, "no battery can pay for a share of the round")
        ctx = RoundContext.for_round(self.scenario, r, time_s, snapshot, available, sample_weight, state.holder,
                                     c.local_steps, c.batch_size, c.mix_every, c.seed, energy_budget_j=budget,
                                     deadline_s=self.deadline(r, time_s), links_up=links_up)
        probe_before, probe_grad_sq = self.probe.loss_and_grad_sq(self.global_model(state))
        planned_round = self._plan_within_batteries(ctx, battery, flat)
        if planned_round is None:
            return self._empty_round(state, ledger, time_s, "no battery can pay for a share of the round")
        ctx, plan, planned, sat_out = planned_round
        cost = planned
        events = self._fault_events(ctx, plan, planned, budget_left)
        self._warn_if_unaffordable(r, plan, planned, budget_left)
        parent, tree_of, include = plan.parent, plan.tree_of, plan.participating & (sample_weight > 0)
        notes: list[str] = []
        if events:
            outcome = round_faults(ctx, self.strategy, plan, planned, events)
            state.dead |= outcome.dead
            parent, tree_of = outcome.up_parent, outcome.tree_of
            include = outcome.contributing & (sample_weight > 0)
            cost, notes = faulted_cost(ctx, self.strategy, plan, outcome), outcome.notes
        update = self.backend.run_round(RoundWork(
            start_params=state.models, tree_of=tree_of, parent=parent, include=include,
            local_steps=plan.local_steps, batch_size=plan.batch_size, sample_weight=sample_weight,
            client_indices=data, round_index=r, seed=c.seed,
            keep_client_updates=self.strategy.needs_client_updates, proximal_mu=plan.proximal_mu))
        final_plan = plan if not events else RoundPlan(**{**plan.__dict__, "parent": parent, "tree_of": tree_of,
                                                          "participating": include})
        self._apply_update(state, ctx, plan, final_plan, update, tree_of)
        global_model = self.global_model(state)
        test_loss, test_acc, consensus_acc = self.evaluate_held(state, global_model)
        energy = cost.energy_per_satellite_j
        state.energy_used_j = state.energy_used_j + energy
        min_soc, mean_soc, violations = self.batteries.settle(state, energy)
        record, extra_j, saved_j = self._record(ledger, r, time_s, plan, cost, planned)
        metrics = RoundMetrics(
            round=r, time_s=time_s, latency_s=cost.latency_s, idle_s=plan.idle_s, energy_j=cost.energy_j,
            cumulative_energy_j=ledger.total_energy_j, test_accuracy=test_acc, test_loss=test_loss,
            consensus_accuracy=consensus_acc, train_loss=update.train_loss, participating=int(include.sum()), available=int(available.sum()),
            messages=update.messages, num_roots=int(((parent < 0) & include).sum()),
            fault_extra_latency_s=record.fault_extra_latency_s, fault_extra_energy_j=extra_j,
            fault_saved_energy_j=saved_j, faults="; ".join(notes), fallback=str(plan.info.get("fallback") or ""),
            **{f"mean_{key}": _weighted_mean(getattr(final_plan, key), sample_weight, include)
               for key in ("local_steps", "batch_size", "cpu_hz", "tx_power_w")},
            probe_loss_before=probe_before, probe_loss_after=self.probe.loss(global_model), probe_grad_sq=probe_grad_sq,
            predicted_decrease=self._predicted_decrease(ctx, final_plan, include, sample_weight, cost.latency_s,
                                                        probe_grad_sq),
            min_state_of_charge=min_soc, mean_state_of_charge=mean_soc, sat_out=int(sat_out.sum()),
            **{f"{kind}_energy_j": 0.0 if getattr(cost, f"{kind}_energy_j") is None
               else float(np.sum(getattr(cost, f"{kind}_energy_j"))) for kind in ("static", "acquisition")},
            battery_violations=violations)
        metrics.observed_decrease = metrics.probe_loss_before - metrics.probe_loss_after
        state.next_round = r + 1
        state.next_time_s = self.next_start(r, time_s, cost.latency_s + plan.idle_s)
        state.extra["links_up"] = self.scenario.links_held(self.strategy.links_used(ctx, final_plan),
                                                           state.next_time_s - time_s - cost.latency_s).tolist()
        state.last_latency_s = cost.latency_s
        state.metrics.append(metrics.to_dict())
        state.ledger = ledger.to_dict()
        return metrics

    def _budgets(self, state: SimulationState, time_s: float, budget_left: np.ndarray, available: np.ndarray
                 ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
        """What the planner may spend per satellite this round (J; None: no limit), the batteries' share of it
        (None without batteries or when planning ignores them), and who has nothing to give (out before planning)."""
        budget = self.round_budget(budget_left, state.next_round)
        battery = self.batteries.budget(state, time_s)
        if self.config.battery_planning == "ignore":
            battery = None  # planned as if unlimited; the real batteries are still settled
        if battery is None:
            return budget, None, np.zeros(self.num_satellites, bool)
        budget = battery if budget is None else np.minimum(budget, battery)
        return budget, battery, available & (battery <= 0)

    def _record(self, ledger: EnergyLedger, r: int, time_s: float, plan: RoundPlan, cost: RoundCost,
                planned: RoundCost) -> tuple[RoundRecord, float, float]:
        """The round's ledger record (added), and the energy faults added and saved (J, each >= 0)."""
        record = RoundRecord(round_index=r, time_s=time_s, latency_s=cost.latency_s, idle_s=plan.idle_s,
                             compute_energy_j=cost.compute_energy_j, transmit_energy_j=cost.transmit_energy_j,
                             fault_extra_latency_s=cost.latency_s - planned.latency_s,
                             fault_extra_energy_j=cost.energy_j - planned.energy_j,
                             **self._energy_kinds(cost))
        ledger.add(record)
        # Faults add energy on some satellites (re-sends, longer repaired links) and save it on others (the dead
        # stop spending): reported apart, each >= 0, so "extra" is never a negative number.
        delta_j = cost.energy_per_satellite_j - planned.energy_per_satellite_j
        return record, float(np.maximum(delta_j, 0.0).sum()), float(np.maximum(-delta_j, 0.0).sum())

    def _plan_within_batteries(self, ctx: RoundContext, battery: np.ndarray | None, flat: np.ndarray
                               ) -> tuple[RoundContext, RoundPlan, RoundCost, np.ndarray] | None:
        """The round's plan and its planned cost, with every satellite whose battery cannot pay for its share sat
        out (``flat``: those with nothing to give, already out); None when nobody is left to plan."""
        n = self.num_satellites
        plan = plan_round(self.strategy, ctx)
        _check_plan(plan, n, self.num_models, self.strategy.name)
        planned = self.strategy.round_cost(ctx, plan)
        sat_out = flat.copy()
        if battery is None:
            return ctx, plan, planned, sat_out
        # A satellite whose battery cannot pay for its share sits the round out: the round is planned again
        # without it (it neither trains nor relays), up to BATTERY_REPLANS times since shares move when the forest
        # does. Every policy is held to the same rule; what is still short after that trains no more (relaying only).
        for _ in range(BATTERY_REPLANS):
            short = plan.participating & (planned.energy_per_satellite_j > battery * (1 + 1e-9))
            if not short.any():
                break
            sat_out |= short
            ctx = replace(ctx, available=ctx.available & ~sat_out)
            if not ctx.available.any():
                return None
            plan = plan_round(self.strategy, ctx)
            _check_plan(plan, n, self.num_models, self.strategy.name)
            planned = self.strategy.round_cost(ctx, plan)
        short = plan.participating & (planned.energy_per_satellite_j > battery * (1 + 1e-9))
        if short.any():
            sat_out |= short
            plan = replace(plan, participating=plan.participating & ~short)
            planned = self.strategy.round_cost(ctx, plan)
        return ctx, plan, planned, sat_out

    def _warn_if_unaffordable(self, r: int, plan: RoundPlan, planned: RoundCost, budget_left: np.ndarray) -> None:
        """Warn once when no participant can pay for its share from what is left of the run's energy budget."""
        short = plan.participating & (planned.energy_per_satellite_j > budget_left)
        if plan.participating.any() and short[plan.participating].all() and not self._warned_empty:
            self._warned_empty = True
            need = float(np.min(planned.energy_per_satellite_j[plan.participating]))
            left = float(np.max(budget_left[plan.participating]))
            warnings.warn(f"round {r}: no satellite can pay for its share of the round (the least share is "
                          f"{need:.3g} J, the most any satellite has left is {left:.3g} J of its "
                          f"{self.config.energy_budget_j:g} J budget): the round is recorded with 0 participants",
                          FedSpanWarning, stacklevel=3)

    def _apply_update(self, state: SimulationState, ctx: RoundContext, plan: RoundPlan, final_plan: RoundPlan,
                      update: RoundUpdate, tree_of: np.ndarray) -> None:
        """The round's aggregate becomes the models; their weights and who holds which model follow."""
        state.models = self.strategy.aggregate(ctx, final_plan, update, state.models)
        got = update.weight_sums > 0
        state.model_weight = np.where(got, update.weight_sums, state.model_weight)
        if final_plan.mix:
            state.model_weight = np.full_like(state.model_weight, state.model_weight.mean())
        alive_in_round = final_plan.participating | (plan.participating & ~state.dead)
        state.holder = np.where(alive_in_round, tree_of, state.holder)

    def _energy_kinds(self, cost: RoundCost) -> dict[str, np.ndarray]:
        """The ledger's energy by kind where the hardware has static power or link acquisition (else nothing)."""
        if self.config.hardware == "paper" and self.config.fleet is None:
            return {}
        n = self.num_satellites
        return {kind: np.zeros(n) if getattr(cost, kind) is None else np.asarray(getattr(cost, kind), float)
                for kind in ("static_energy_j", "acquisition_energy_j")}

    def _empty_round(self, state: SimulationState, ledger: EnergyLedger, time_s: float, why: str) -> RoundMetrics:
        """Record a round in which nobody can take part: no training, no cost, the model unchanged."""
        n, r = self.num_satellites, state.next_round
        if not self._warned_empty:
            self._warned_empty = True
            warnings.warn(f"round {r}: {why}; this and later such rounds are recorded with 0 participants",
                          FedSpanWarning, stacklevel=3)
        test_loss, test_acc, consensus_acc = self.evaluate_held(state, self.global_model(state))
        ledger.add(RoundRecord(round_index=r, time_s=time_s, latency_s=0.0, idle_s=0.0,
                               compute_energy_j=np.zeros(n), transmit_energy_j=np.zeros(n)))
        min_soc = mean_soc = float("nan")
        violations = 0
        if self.scenario.power is not None:  # the batteries still charge and carry the bus
            self.batteries.budget(state, time_s)
            min_soc, mean_soc, violations = self.batteries.settle(state, np.zeros(n))
        metrics = RoundMetrics(round=r, time_s=time_s, latency_s=0.0, idle_s=0.0, energy_j=0.0,
                               cumulative_energy_j=ledger.total_energy_j, test_accuracy=test_acc, test_loss=test_loss,
                               consensus_accuracy=consensus_acc, train_loss=float("nan"), participating=0, available=0, messages=0, num_roots=0,
                               faults=why, min_state_of_charge=min_soc, mean_state_of_charge=mean_soc,
                               battery_violations=violations)
        state.next_round = r + 1
        state.next_time_s = self.next_start(r, time_s, 0.0)
        state.last_latency_s = 0.0
        state.metrics.append(metrics.to_dict())
        state.ledger = ledger.to_dict()
        return metrics

    def _predicted_decrease(self, ctx: RoundContext, plan: RoundPlan, include: np.ndarray, sample_weight: np.ndarray,
                            latency_s: float, grad_sq: float) -> float:
        """The bound's guaranteed probe-loss decrease for this round's participants and knobs (NaN if none)."""
        if not include.any():
            return float("nan")
        samples = sample_weight[include]
        return predicted_decrease(self.scenario.config.learning, samples, plan.local_steps[include].astype(float),
                                  np.minimum(plan.batch_size[include], samples).astype(float),
                                  drift_exposure(latency_s, ctx.deadline_s), plan.idle_s,
                                  max(int((plan.parent[include] < 0).sum()), 1), grad_sq)

    def global_model(self, state: SimulationState) -> torch.Tensor:
        """Data-weighted average of the models (the single model when there is one)."""
        if len(state.models) == 1:
            return state.models[0]
        w = torch.as_tensor(state.model_weight, dtype=torch.float64)
        return ((state.models.to(torch.float64) * w[:, None]).sum(0) / w.sum()).to(torch.float32)

    def evaluate_held(self, state: SimulationState, global_model: torch.Tensor) -> tuple[float, float, float]:
        """Test loss and accuracy of what the satellites hold, and the accuracy of the models' average.

        With one model the three describe ``global_model``. Where a policy keeps several (gossip, forests that do
        not mix) a run is only as good as the models on board: loss and accuracy are means over the live
        satellites (all of them once none is) of the model each holds, each distinct model evaluated once. The
        data-weighted average of the models (``global_model``) is the iterate D-PSGD's analysis follows [1]_,
        but no satellite holds it; its accuracy is the third value (``consensus_accuracy`` of the metrics).

        References
        ----------
        .. [1] X. Lian et al., "Can decentralized algorithms outperform centralized algorithms? A case study for
           decentralized parallel stochastic gradient descent", NeurIPS 2017.
        """
        x, y = self.dataset.x_test, self.dataset.y_test
        loss, accuracy = evaluate(self.model, global_model, x, y)
        if len(state.models) == 1:
            return loss, accuracy, accuracy
        live = ~state.dead if not state.dead.all() else np.ones_like(state.dead)
        ids, count = np.unique(state.holder[live], return_counts=True)
        scores = np.array([evaluate(self.model, state.models[i], x, y) for i in ids])
        share = count / count.sum()
        return float(share @ scores[:, 0]), float(share @ scores[:, 1]), accuracy

    def _fault_events(self, ctx: RoundContext, plan: RoundPlan, planned: RoundCost,
                      budget_left: np.ndarray) -> list[FaultEvent]:
        r = ctx.round_index
        events = [e for e in self.schedule if e.round == r]
        if self.config.fault_rate > 0:
            rng = np.random.default_rng([self.config.seed, r, 3])
            events += random_faults(rng, r, plan.parent, plan.participating, self.config.fault_rate)
        # A satellite whose battery cannot pay for its share of the round does not start it (so it
        # never spends past its budget); it leaves the run and the forest is repaired around it.
        short = plan.participating & (planned.energy_per_satellite_j > budget_left)
        events += [FaultEvent(r, "energy", int(s), None, 0.0) for s in np.flatnonzero(short)]
        return events

    def writes_files(self) -> bool:
        """Only one process writes outputs (rank 0 under torch.distributed)."""
        if self.config.output_dir is None:
            return False
        dist = torch.distributed
        return not (dist.is_available() and dist.is_initialized() and dist.get_rank() != 0)


def _check_plan(plan: RoundPlan, n: int, num_models: int, name: str) -> None:
    for key in ("parent", "tree_of", "participating", "cpu_hz", "tx_power_w", "local_steps", "batch_size"):
        if np.shape(getattr(plan, key)) != (n,):
            raise SimulationError(f"strategy '{name}' planned {key} of shape {np.shape(getattr(plan, key))}, "
                                  f"expected ({n},)")
    ids = plan.tree_of[plan.participating]
    if len(ids) and (ids.min() < 0 or ids.max() >= num_models):
        raise SimulationError(f"strategy '{name}' used model ids outside [0, {num_models})")


def run_simulation(config: SimulationConfig, progress: ProgressCallback | None = None,
                   on_round: Callable[[RoundMetrics], None] | None = None,
                   backend: TrainingBackend | None = None,
                   on_start: Callable[[int], None] | None = None) -> RunResult:
    """Run (or resume) a simulation; saves a checkpoint after every round when ``output_dir`` is set.

    ``on_start(first_round)`` is called once the output folder is locked and its checkpoint (if
    any) accepted, before the first round: the place to write files that describe the run, so a
    refused run changes nothing. ``progress(done, total, metrics)`` is called after each round
    (for a progress bar) and ``on_round(metrics)`` too. Ctrl-C keeps every completed round: its
    checkpoint and metrics files are on disk, and running again with the same config resumes
    from there. ``metrics.csv`` grows by one line per round, so SIGTERM/SIGKILL keep it too.
    A second process on the same ``output_dir`` is refused (:class:`~fedspan.runlock.FolderBusyError`).
    """
    out = Path(config.output_dir) if config.output_dir else None
    sim = Simulation(config, backend)
    if out is None or not sim.writes_files():
        return run_rounds(sim, config, None, progress, on_round, on_start)
    with lock_output_folder(out, "fedspan run"):
        return run_rounds(sim, config, out, progress, on_round, on_start)
