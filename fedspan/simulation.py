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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from fedspan.aggregation import cluster_sums, reduce_routes
from fedspan.backend import ClientUpdates, RoundUpdate, RoundWork, TrainingBackend
from fedspan.calibration import LossProbe
from fedspan.checkpoint import CHECKPOINT_NAME, CheckpointError, SimulationState, load_checkpoint, save_checkpoint
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
from fedspan.errors import FedSpanError, FedSpanWarning
from fedspan.faults import FaultEvent, faulted_cost, parse_fault_schedule, random_faults, round_faults
from fedspan.metrics import RoundMetrics, append_metrics_row, write_metrics
from fedspan.models import flatten_params, load_flat, make_model, model_bits
from fedspan.partition import RegionalStream, dirichlet, iid
from fedspan.runlock import lock_output_folder
from fedspan.sanity import check_constellation
from fedspan.scenario import Scenario, ScenarioConfig, load_constellation
from fedspan.strategies import AggregationStrategy, RoundContext, RoundPlan, make_strategy
from fedspan.strategies.isolated import plan_round
from fedspan.training import BatchedTrainer, client_seeds, evaluate, mean_train_loss
from optimization.bound import drift_exposure, predicted_decrease
from optimization.problem import LearningConstants, ObjectiveWeights
from optimization.progress_model import ProgressModel
from orbits.links import LinkParams
from orbits.power import below_floor, round_budget_j, step_battery
from orbits.sun import sunlit_fraction

#: Energy kept back at the end of a round for the bus through the longest eclipse ahead (s of bus load):
#: at 550 km an eclipse lasts at most ~36 min (docs/physical-model.md).
ECLIPSE_RESERVE_S = 36 * 60.0

@dataclass(frozen=True)
class RoundSunlight:
    """A round's power outlook: how long the battery must carry it (s) and each satellite's sunlit seconds."""

    length_s: float
    sunlit_s: np.ndarray


@dataclass
class RunResult:
    """The outcome of a run."""

    config: SimulationConfig
    metrics: list[RoundMetrics]
    ledger: EnergyLedger
    models: torch.Tensor
    global_model: torch.Tensor
    output_files: list[Path]
    resumed_from_round: int = 0
    #: The fitted time-to-accuracy model (``ProgressModel.to_dict()``), None when the run planned with the bound.
    progress_model: dict[str, float] | None = None

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last round."""
        return self.metrics[-1].test_accuracy if self.metrics else float("nan")


class InProcessBackend:
    """The default ``TrainingBackend``: batched local training, then the spanning reduce."""

    def __init__(self, trainer: BatchedTrainer) -> None:
        self.trainer = trainer

    def run_round(self, work: RoundWork) -> RoundUpdate:
        """Train every included satellite at once and add the models up leaves -> root."""
        include = np.asarray(work.include, bool)
        idx = np.flatnonzero(include)
        tree_of = np.asarray(work.tree_of, np.int64)
        num_models, num_params = work.start_params.shape
        weights = np.asarray(work.sample_weight, float)
        loss = float("nan")
        trained, last_loss = torch.zeros((0, num_params)), torch.zeros(0)
        if len(idx):
            result = self.trainer.train(work.start_params.to(torch.float32)[torch.as_tensor(tree_of[idx])],
                                        [work.client_indices[i] for i in idx], np.asarray(work.local_steps)[idx],
                                        np.asarray(work.batch_size)[idx], client_seeds(work.seed, work.round_index, idx),
                                        proximal_mu=work.proximal_mu)
            trained, last_loss = result.params.cpu(), result.last_loss
            loss = mean_train_loss(last_loss, weights[idx])
        cluster_of, messages = reduce_routes(work.parent, tree_of, include)
        sums, wsum = cluster_sums(trained, weights[idx], cluster_of[idx], num_models)
        return RoundUpdate(tree_sums=sums, weight_sums=wsum, train_loss=loss, messages=messages,
                           client_updates=ClientUpdates.of(work, idx, trained, last_loss)
                           if work.keep_client_updates else None)


ProgressCallback = Callable[[int, int, RoundMetrics], None]


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

    def _progress_model(self, state: SimulationState) -> ProgressModel:
        """The run's time-to-accuracy model: the checkpoint's (a resumed run does not probe again), else fitted
        on the initial model and the round-0 data (seeded) and kept in ``state.extra`` and the run summary."""
        from fedspan.knob_probe import fit_progress_model

        if "progress_model" not in state.extra:
            parts = self.client_data(self.initial_state(), 0.0)
            x, y = self.dataset.x_train, self.dataset.y_train
            index = [torch.as_tensor(ix, dtype=torch.long) for ix in parts]
            fitted = fit_progress_model(self.model, [(x[ix], y[ix]) for ix in index], self.config.lr,
                                        step_bounds=self.scenario.config.local_steps_bounds,
                                        batch_bounds=self.scenario.config.batch_bounds, seed=self.config.seed)
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
        c, n = self.config, self.num_satellites
        r = state.next_round
        time_s = state.next_time_s
        if c.knobs == "time-to-accuracy" and self.strategy.chooses_knobs and self.scenario.config.progress is None:
            self.scenario.config.progress = self._progress_model(state)
        window = c.window_s if c.window_s is not None else max(state.last_latency_s, 10.0)
        snapshot = self.scenario.snapshot(time_s, window)
        data = self.client_data(state, time_s)
        if c.calibrate and c.calibrate_every and r > 0 and r % c.calibrate_every == 0:
            self.calibration = self._calibrate(data, self.global_model(state))
        sample_weight = np.array([len(d) for d in data], dtype=float)
        budget_left = c.energy_budget_j - state.energy_used_j
        available = ~state.dead & np.asarray(snapshot.active, bool) & (budget_left > 0)
        if not available.any():
            return self._empty_round(state, ledger, time_s, "no satellite is available (dead, out of its energy "
                                                            "budget or dropped by SGP4)")
        budget = self.round_budget(budget_left, r)
        battery = self._battery_budget(state, time_s)
        if c.battery_planning == "ignore":
            battery = None  # planned as if unlimited; _step_battery still settles the real batteries
        flat = np.zeros(n, bool)
        if battery is not None:
            budget = battery if budget is None else np.minimum(budget, battery)
            flat = available & (battery <= 0)  # nothing to give this round: out before planning
            available = available & ~flat
            if not available.any():
                return self._empty_round(state, ledger, time_s, "no battery can pay for a share of the round")
        links_up = np.asarray(state.extra.get("links_up", []), np.int64).reshape(-1, 2)
        ctx = RoundContext.for_round(self.scenario, r, time_s, snapshot, available, sample_weight, state.holder,
                                     c.local_steps, c.batch_size, c.mix_every, c.seed, energy_budget_j=budget,
                                     deadline_s=self.deadline(r, time_s), links_up=links_up)
        probe_before, probe_grad_sq = self.probe.loss_and_grad_sq(self.global_model(state))
        plan = plan_round(self.strategy, ctx)
        _check_plan(plan, n, self.num_models, self.strategy.name)
        cost = planned = self.strategy.round_cost(ctx, plan)
        sat_out = flat.copy()
        if battery is not None:
            # A satellite whose battery cannot pay for its share sits the round out: the round is planned again
            # without it (it neither trains nor relays), a few times since shares move when the forest does. Every
            # policy is held to the same rule; what is still short after that trains no more (relaying only).
            for _ in range(3):
                short = plan.participating & (planned.energy_per_satellite_j > battery * (1 + 1e-9))
                if not short.any():
                    break
                sat_out |= short
                ctx = replace(ctx, available=ctx.available & ~sat_out)
                if not ctx.available.any():
                    return self._empty_round(state, ledger, time_s, "no battery can pay for a share of the round")
                plan = plan_round(self.strategy, ctx)
                _check_plan(plan, n, self.num_models, self.strategy.name)
                cost = planned = self.strategy.round_cost(ctx, plan)
            short = plan.participating & (planned.energy_per_satellite_j > battery * (1 + 1e-9))
            if short.any():
                sat_out |= short
                plan = replace(plan, participating=plan.participating & ~short)
                cost = planned = self.strategy.round_cost(ctx, plan)
        events = self._fault_events(ctx, plan, planned, budget_left)
        short = plan.participating & (planned.energy_per_satellite_j > budget_left)
        if plan.participating.any() and short[plan.participating].all() and not self._warned_empty:
            self._warned_empty = True
            need = float(np.min(planned.energy_per_satellite_j[plan.participating]))
            left = float(np.max(budget_left[plan.participating]))
            warnings.warn(f"round {r}: no satellite can pay for its share of the round (the least share is "
                          f"{need:.3g} J, the most any satellite has left is {left:.3g} J of its {c.energy_budget_j:g} J "
                          f"budget): the round is recorded with 0 participants", FedSpanWarning, stacklevel=2)
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
        state.models = self.strategy.aggregate(ctx, final_plan, update, state.models)
        got = update.weight_sums > 0
        state.model_weight = np.where(got, update.weight_sums, state.model_weight)
        if final_plan.mix:
            state.model_weight = np.full_like(state.model_weight, state.model_weight.mean())
        alive_in_round = final_plan.participating | (plan.participating & ~state.dead)
        state.holder = np.where(alive_in_round, tree_of, state.holder)
        global_model = self.global_model(state)
        test_loss, test_acc = evaluate(self.model, global_model, self.dataset.x_test, self.dataset.y_test)
        energy = cost.energy_per_satellite_j
        state.energy_used_j = state.energy_used_j + energy
        min_soc, mean_soc, violations = self._step_battery(state, time_s, energy)
        state.extra["links_up"] = self.strategy.links_used(ctx, final_plan).tolist()
        record = RoundRecord(round_index=r, time_s=time_s, latency_s=cost.latency_s, idle_s=plan.idle_s,
                             compute_energy_j=cost.compute_energy_j, transmit_energy_j=cost.transmit_energy_j,
                             fault_extra_latency_s=cost.latency_s - planned.latency_s,
                             fault_extra_energy_j=cost.energy_j - planned.energy_j,
                             **self._energy_kinds(cost))
        ledger.add(record)
        # Faults add energy on some satellites (re-sends, longer repaired links) and save it on others (the dead
        # stop spending): reported apart, each >= 0, so "extra" is never a negative number.
        delta_j = cost.energy_per_satellite_j - planned.energy_per_satellite_j
        extra_j, saved_j = float(np.maximum(delta_j, 0.0).sum()), float(np.maximum(-delta_j, 0.0).sum())
        metrics = RoundMetrics(
            round=r, time_s=time_s, latency_s=cost.latency_s, idle_s=plan.idle_s, energy_j=cost.energy_j,
            cumulative_energy_j=ledger.total_energy_j, test_accuracy=test_acc, test_loss=test_loss,
            train_loss=update.train_loss, participating=int(include.sum()), available=int(available.sum()),
            messages=update.messages, num_roots=int(((parent < 0) & include).sum()),
            fault_extra_latency_s=record.fault_extra_latency_s, fault_extra_energy_j=extra_j,
            fault_saved_energy_j=saved_j, faults="; ".join(notes), fallback=str(plan.info.get("fallback") or ""),
            mean_local_steps=_weighted_mean(final_plan.local_steps, sample_weight, include),
            mean_batch_size=_weighted_mean(final_plan.batch_size, sample_weight, include),
            mean_cpu_hz=_weighted_mean(final_plan.cpu_hz, sample_weight, include),
            mean_tx_power_w=_weighted_mean(final_plan.tx_power_w, sample_weight, include),
            probe_loss_before=probe_before, probe_loss_after=self.probe.loss(global_model), probe_grad_sq=probe_grad_sq,
            predicted_decrease=self._predicted_decrease(ctx, final_plan, include, sample_weight, cost.latency_s,
                                                        probe_grad_sq),
            min_state_of_charge=min_soc, mean_state_of_charge=mean_soc, sat_out=int(sat_out.sum()),
            static_energy_j=float(np.sum(cost.static_energy_j)) if cost.static_energy_j is not None else 0.0,
            acquisition_energy_j=float(np.sum(cost.acquisition_energy_j))
            if cost.acquisition_energy_j is not None else 0.0, battery_violations=violations)
        metrics.observed_decrease = metrics.probe_loss_before - metrics.probe_loss_after
        state.next_round = r + 1
        state.next_time_s = self.next_start(r, time_s, cost.latency_s + plan.idle_s)
        state.last_latency_s = cost.latency_s
        state.metrics.append(metrics.to_dict())
        state.ledger = ledger.to_dict()
        return metrics

    def _energy_kinds(self, cost: RoundCost) -> dict[str, np.ndarray]:
        """The ledger's energy by kind where the hardware has static power or link acquisition (else nothing)."""
        if self.config.hardware == "paper" and self.config.fleet is None:
            return {}
        n = self.num_satellites
        return {kind: np.zeros(n) if getattr(cost, kind) is None else np.asarray(getattr(cost, kind), float)
                for kind in ("static_energy_j", "acquisition_energy_j")}

    def _round_length_s(self, state: SimulationState) -> float:
        """How long the battery must carry this round: the cadence interval, or back to back the last latency."""
        if self.config.schedule == "cadence":
            return float(self.config.round_interval_s)
        return max(float(state.last_latency_s), 1.0)

    def _soc(self, state: SimulationState) -> np.ndarray:
        """Every satellite's battery charge (J), full at the start of a run."""
        power = self.scenario.power
        if "soc_j" not in state.extra:
            state.extra["soc_j"] = power.full_j(self.num_satellites).tolist()
        return np.asarray(state.extra["soc_j"], float)

    def _battery_budget(self, state: SimulationState, time_s: float) -> np.ndarray | None:
        """What each battery can give federated learning this round without ending it below its floor (J).

        Also fixes the round's power outlook (``self.sunlight``: the round's length and each satellite's sunlit
        seconds in it, from Earth's conical shadow) that :meth:`_step_battery` settles the round with.
        """
        power = self.scenario.power
        if power is None:
            return None
        length = self._round_length_s(state)
        lit = sunlit_fraction(self.scenario.constellation, self.scenario.start, time_s, time_s + length)
        self.sunlight = RoundSunlight(length, np.nan_to_num(lit, nan=0.0) * length)
        bus = np.broadcast_to(np.asarray(power.bus_w, float), (self.num_satellites,))
        return round_budget_j(self._soc(state), self.sunlight.sunlit_s, length, power,
                              reserve_j=bus * ECLIPSE_RESERVE_S)

    def _step_battery(self, state: SimulationState, time_s: float, spent_j: np.ndarray) -> tuple[float, float, int]:
        """Charge, bus load and this round's spend applied to every battery: the lowest and mean state of charge
        (fractions of capacity) and how many batteries ended below their depth-of-discharge floor."""
        power = self.scenario.power
        if power is None:
            return float("nan"), float("nan"), 0
        step = step_battery(self._soc(state), self.sunlight.sunlit_s, self.sunlight.length_s, spent_j, power)
        state.extra["soc_j"] = np.asarray(step.soc_j, float).tolist()
        capacity = np.broadcast_to(np.asarray(power.capacity_j, float), (self.num_satellites,))
        fraction = np.asarray(step.soc_j, float) / capacity
        return float(np.min(fraction)), float(np.mean(fraction)), below_floor(step.soc_j, power)

    def _empty_round(self, state: SimulationState, ledger: EnergyLedger, time_s: float, why: str) -> RoundMetrics:
        """Record a round in which nobody can take part: no training, no cost, the model unchanged."""
        c, n, r = self.config, self.num_satellites, state.next_round
        if not self._warned_empty:
            self._warned_empty = True
            warnings.warn(f"round {r}: {why}; this and later such rounds are recorded with 0 participants",
                          FedSpanWarning, stacklevel=3)
        test_loss, test_acc = evaluate(self.model, self.global_model(state), self.dataset.x_test, self.dataset.y_test)
        ledger.add(RoundRecord(round_index=r, time_s=time_s, latency_s=0.0, idle_s=0.0,
                               compute_energy_j=np.zeros(n), transmit_energy_j=np.zeros(n)))
        min_soc = mean_soc = float("nan")
        violations = 0
        if self.scenario.power is not None:  # the batteries still charge and carry the bus
            self._battery_budget(state, time_s)
            min_soc, mean_soc, violations = self._step_battery(state, time_s, np.zeros(n))
        metrics = RoundMetrics(round=r, time_s=time_s, latency_s=0.0, idle_s=0.0, energy_j=0.0,
                               cumulative_energy_j=ledger.total_energy_j, test_accuracy=test_acc, test_loss=test_loss,
                               train_loss=float("nan"), participating=0, available=0, messages=0, num_roots=0,
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


def make_policy(c: SimulationConfig) -> AggregationStrategy:
    """The configured policy; forest policies get ``num_trees`` from the config.

    An option value the policy cannot use (``sca_iters=abc``) is a one-line error naming it.
    """
    from fedspan.strategies.registry import strategy_class

    options = dict(c.strategy_options)
    if strategy_class(c.strategy).takes_num_trees:
        options.setdefault("num_trees", c.num_trees)
    try:
        return make_strategy(c.strategy, **options)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, FedSpanError):
            raise
        raise SimulationError(f"strategy '{c.strategy}': bad option value in "
                              f"{', '.join(f'{k}={v!r}' for k, v in c.strategy_options.items())} ({exc})") from None


_LINK_OPTIONS = ("terminals", "rate_cap_bps", "tx_power_w", "aperture_m")


def link_params(c: SimulationConfig) -> LinkParams:
    """The link a configuration describes: the laser options on ``paper``, else the hardware profile's terminal."""
    if c.hardware == "paper":
        return LinkParams(terminals=c.terminals, max_rate_bps=float(c.rate_cap_bps),
                          max_tx_power_w=float(c.tx_power_w), aperture_diameter_m=float(c.aperture_m))
    from fedspan.config import FIELDS
    from fedspan.hardware import hardware_profile

    changed = [name for name in _LINK_OPTIONS if getattr(c, name) != FIELDS[name].default]
    if changed:
        raise SimulationError(f"--{changed[0].replace('_', '-')} applies to --hardware paper; hardware "
                              f"'{c.hardware}' brings its own link (write a TOML profile with a [link] table to change it)")
    return hardware_profile(c.hardware).link.link_params()


def model_flops(c: SimulationConfig, model: torch.nn.Module, input_shape) -> float | None:
    """Training FLOPs per sample of the model, when the hardware prices compute from them (None on paper)."""
    if c.hardware == "paper" and c.fleet is None:
        return None
    from fedspan.hardware.flops import training_flops_per_sample

    return training_flops_per_sample(model, input_shape)


def hardware_arrays(c: SimulationConfig, n: int, flops: float | None) -> dict[str, np.ndarray] | None:
    """Per-satellite hardware arrays of the run's profile and fleet (None: the paper's identical satellites)."""
    if c.hardware == "paper" and c.fleet is None:
        return None
    from fedspan.config import parse_mix
    from fedspan.hardware import hardware_profile
    from fedspan.hardware.fleet import read_fleet_csv, satellite_arrays, seeded_mix

    profile = hardware_profile(c.hardware)
    flops = 1.0 if flops is None else flops
    if c.fleet is None:
        return satellite_arrays([profile], flops, index=np.zeros(n, np.int64))
    if c.fleet.startswith("mix:"):
        names = seeded_mix(parse_mix(c.fleet), n, c.seed)
        unique, index = np.unique(names, return_inverse=True)
        return satellite_arrays([hardware_profile(str(u)) for u in unique], flops, index=index.reshape(-1))
    return read_fleet_csv(c.fleet, n).satellite_arrays(profile, flops)


def scenario_for(c: SimulationConfig, bits: float, flops: float | None = None) -> Scenario:
    """The scenario a configuration describes, for a model of ``bits`` bits and ``flops`` training FLOPs per sample."""
    # --mix-every 0 (never mix) is planned as one exchange period spanning the whole run: the planner's
    # bound then carries the full inter-cluster dissimilarity and the exchange costs almost nothing per round.
    learning = LearningConstants(learning_rate=c.lr, rounds=c.rounds,
                                 mix_every=c.mix_every if c.mix_every >= 1 else max(c.rounds, 1),
                                 smoothness=c.smoothness)
    constellation = load_constellation(c.constellation, c.skip_bad_tles)
    arrays = hardware_arrays(c, len(constellation), flops)
    policy = c.link_policy
    if c.hardware != "paper":
        from fedspan.hardware import hardware_profile

        if hardware_profile(c.hardware).link_policy == "grid":  # fixed neighbours (Iridium-class radios)
            policy = "grid"
    scenario = Scenario(ScenarioConfig(
        constellation=c.constellation, skip_bad_tles=c.skip_bad_tles, start=c.start, link_policy=policy,
        neighbors=c.neighbors, link_params=link_params(c), ground_stations=c.ground_stations,
        roots_see_ground=c.roots_see_ground, learning=learning, weights=ObjectiveWeights(*c.weights),
        hardware=arrays), model_bits=bits, constellation=constellation)
    positions = scenario.constellation.propagate(scenario.start, [0.0]).positions_km[0]
    check_constellation(scenario.constellation, str(c.constellation), scenario.start, positions)
    return scenario


def build_scenario(c: SimulationConfig, bits: float | None = None) -> tuple[Scenario, float]:
    """The scenario (for planning without training) and the model size it uses.

    ``bits`` defaults to ``c.model_bits``, else the size of ``c.model`` on ``c.dataset``.
    """
    c.validate()
    if bits is None:
        bits = c.model_bits
    flops = None
    if bits is None or c.hardware != "paper" or c.fleet is not None:
        data = load_dataset(c.dataset, root=c.data_root)
        model = make_model(c.model, data.input_shape, data.num_classes, width=c.model_width, seed=c.seed)
        bits = float(model_bits(model)) if bits is None else bits
        flops = model_flops(c, model, data.input_shape)
    return scenario_for(c, bits, flops), float(bits)


def data_weights(c: SimulationConfig, n: int) -> np.ndarray | None:
    """Relative data sizes from a fleet file's ``data_scale`` column (None: equal shares)."""
    if c.fleet is None or c.fleet.startswith("mix:"):
        return None
    from fedspan.hardware.fleet import read_fleet_csv

    scale = read_fleet_csv(c.fleet, n).data_scale
    return None if np.all(scale == 1.0) else scale


def static_partition(c: SimulationConfig, labels: np.ndarray, n: int) -> list[np.ndarray]:
    """The iid / Dirichlet split of the training labels over ``n`` satellites (seeded; a fleet's data scales)."""
    rng = np.random.default_rng([c.seed, 1])
    weights = data_weights(c, n)
    if c.partition == "dirichlet":
        return dirichlet(labels, n, c.alpha, rng) if weights is None else dirichlet(labels, n, c.alpha, rng, weights)
    return iid(labels, n, rng) if weights is None else iid(labels, n, rng, weights)


def plan_sample_weights(c: SimulationConfig, n: int) -> np.ndarray:
    """|D_n| per satellite for planning ahead: the static split's sizes (regional: its mean size)."""
    labels = load_dataset(c.dataset, root=c.data_root).subset(c.max_train, c.max_test, seed=c.seed).y_train.numpy()
    sizes = np.array([len(ix) for ix in static_partition(c, labels, n)], dtype=float)
    return sizes if c.partition != "regional" else np.full(n, sizes.mean())


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
        return _run(sim, config, None, progress, on_round, on_start)
    with lock_output_folder(out, "fedspan run"):
        return _run(sim, config, out, progress, on_round, on_start)


def _run(sim: Simulation, config: SimulationConfig, out: Path | None, progress: ProgressCallback | None,
         on_round: Callable[[RoundMetrics], None] | None, on_start: Callable[[int], None] | None) -> RunResult:
    ckpt_path = out / CHECKPOINT_NAME if out else None
    state = sim.initial_state()
    if ckpt_path is not None and config.resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, config.fingerprint(), stream=state.stream)
        if state.next_round > config.rounds:
            raise CheckpointError(f"{ckpt_path}: already has {state.next_round} rounds, more than rounds = "
                                  f"{config.rounds}")
    resumed = state.next_round
    ledger = EnergyLedger.from_dict(state.ledger)
    if on_start is not None:
        on_start(resumed)
    files: list[Path] = []
    if out is not None:  # the rounds so far, then one appended line per round
        write_metrics(out, [RoundMetrics(**m) for m in state.metrics], _summary(config, state, ledger))
    try:
        while state.next_round < config.rounds and not _target_reached(config, state):
            metrics = sim.step(state, ledger)
            if out is not None:
                save_checkpoint(ckpt_path, state, config.fingerprint())
                append_metrics_row(out, metrics)
            if progress is not None:
                progress(state.next_round, config.rounds, metrics)
            if on_round is not None:
                on_round(metrics)
    finally:
        rows = [RoundMetrics(**m) for m in state.metrics]
        if out is not None:
            files = list(write_metrics(out, rows, _summary(config, state, ledger)))
    return RunResult(config=config, metrics=rows, ledger=ledger, models=state.models,
                     global_model=sim.global_model(state), output_files=files, resumed_from_round=resumed,
                     progress_model=state.extra.get("progress_model"))


def _target_reached(config: SimulationConfig, state: SimulationState) -> bool:
    """Whether the run has a stop accuracy and its last round reached it (the run ends there)."""
    if config.stop_at_accuracy is None or not state.metrics:
        return False
    accuracy = state.metrics[-1]["test_accuracy"]
    return accuracy is not None and accuracy >= config.stop_at_accuracy


def _summary(config: SimulationConfig, state: SimulationState, ledger: EnergyLedger) -> dict[str, Any]:
    final = state.metrics[-1]["test_accuracy"] if state.metrics else None
    return {"strategy": config.strategy, "rounds_done": state.next_round, "total_energy_j": ledger.total_energy_j,
            "total_latency_s": ledger.total_latency_s, "final_accuracy": final, "config": config.to_dict(),
            "progress_model": state.extra.get("progress_model")}
