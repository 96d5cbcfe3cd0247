"""Run every (scenario, method, seed) simulation of the comparison, in parallel worker processes.

Each run is a real ``fedspan.simulation.run_simulation``; a worker returns its per-round curve as
plain lists, so results travel between processes and into JSON unchanged.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from scenarios import Method, Scenario

#: Per-round columns kept from RoundMetrics.
CURVE_FIELDS = ("time_s", "latency_s", "idle_s", "energy_j", "cumulative_energy_j", "test_accuracy",
                "consensus_accuracy",
                "participating", "num_roots", "mean_local_steps", "mean_batch_size", "predicted_decrease",
                "observed_decrease", "min_state_of_charge", "sat_out", "battery_violations")


@dataclass(frozen=True)
class Job:
    """One simulation: a scenario run by one method with one seed."""

    scenario: Scenario
    method: Method
    seed: int
    data_dir: str
    weights: tuple[float, float, float] | None = None  # None: SimulationConfig's default
    tag: str = "compare"
    #: SimulationConfig fields set for this run only (the stop accuracy once the target is known).
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def cost_hint(self) -> float:
        """Rough seconds on one core, so the slow jobs start first and the pool stays busy.

        Measured on one core: training ~ satellites / 500 s per round (MLP; cnn-large 50x), planning
        1.5 s + 1.3 s per 1000 satellites.
        """
        n = self.scenario.size_hint
        width = self.scenario.model_width or 0
        # cnn-large and wide MLPs (1280 units: ~10 s a round for 45 satellites) cost 50-100x the small MLP.
        train = n / 500.0 * (50.0 if self.scenario.model == "cnn-large" else max(1.0, width / 12.8))
        plan = 1.5 + 1.3 * n / 1000.0 if self.method.uses_planner else 0.0
        return self.scenario.rounds * (train + plan)

    def describe(self) -> str:
        """Short label for progress lines."""
        return f"{self.tag}: {self.scenario.name} / {self.method.label} / seed {self.seed}"


def run_job(job: Job) -> dict[str, Any]:
    """Run one simulation and return its curve and wall time (executed in a worker process)."""
    import torch

    from fedspan.simulation import SimulationConfig, run_simulation

    torch.set_num_threads(1)  # one core per worker: the pool provides the parallelism
    options = job.scenario.config_dict(job.method, job.seed, Path(job.data_dir))
    if job.weights is not None:
        options["weights"] = job.weights
    options.update(dict(job.overrides))
    config = SimulationConfig(**options)
    begin = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # solver accuracy notes; the plan's status is recorded instead
        result = run_simulation(config)
    wall = time.perf_counter() - begin
    rows = [m.to_dict() for m in result.metrics]
    curve = {name: [row.get(name) for row in rows] for name in CURVE_FIELDS}
    fallbacks = sum(bool(row["fallback"]) for row in rows)
    return {"tag": job.tag, "scenario": job.scenario.name, "method": job.method.label, "seed": job.seed,
            "weights": list(config.weights), "smoothness": config.smoothness, "config": config.to_dict(),
            "num_trees": job.method.num_trees, "strategy": job.method.strategy, "overrides": dict(job.overrides),
            "ablation": job.method.ablation, "role": job.method.role,
            "wall_s": wall, "fallback_rounds": fallbacks, "curve": curve, "progress_model": result.progress_model}


Task = tuple[Callable[[Any], dict[str, Any]], Any, float]  # (function, argument, relative cost)


class TaskError(RuntimeError):
    """A task's exception, flattened to its type and message so it always crosses process boundaries."""


def call_task(function: Callable[[Any], dict[str, Any]], arg: Any) -> dict[str, Any]:
    """Run one task in a worker. Some library exceptions cannot be unpickled (their ``__init__`` takes
    other arguments than ``args``), and one that fails to unpickle breaks the whole pool."""
    try:
        return function(arg)
    except Exception as exc:  # noqa: BLE001 - re-raised with its type and message
        raise TaskError(f"{type(exc).__name__}: {exc}") from None


def run_tasks(tasks: Iterable[Task], workers: int,
              on_done: Callable[[Any, dict[str, Any] | None, str | None], None] | None = None) -> list[dict[str, Any]]:
    """Run ``function(argument)`` tasks costliest first on ``workers`` processes; failures are reported, not fatal."""
    ordered = sorted(tasks, key=lambda t: -t[2])
    results: list[dict[str, Any]] = []

    def finish(arg: Any, outcome: dict[str, Any] | None, error: str | None) -> None:
        if outcome is not None:
            results.append(outcome)
        if on_done is not None:
            on_done(arg, outcome, error)

    if workers <= 1:
        for function, arg, _ in ordered:
            try:
                outcome, error = function(arg), None
            except Exception as exc:  # noqa: BLE001 - one broken run must not lose the others
                outcome, error = None, f"{type(exc).__name__}: {exc}"
            finish(arg, outcome, error)
        return results
    # A worker killed from outside (e.g. by the out-of-memory killer) breaks the whole pool: start a
    # fresh one for the tasks that did not finish (cheapest first, so a task that keeps killing its
    # worker runs last) and give each task three attempts.
    attempts: dict[int, int] = {}
    queue = list(ordered)
    while queue:
        retry: list[Task] = []
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending: dict[Future, Task] = {pool.submit(call_task, task[0], task[1]): task for task in queue}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    exc = future.exception()
                    if isinstance(exc, BrokenProcessPool) and attempts.get(id(task), 0) < 2:
                        attempts[id(task)] = attempts.get(id(task), 0) + 1
                        retry.append(task)
                        continue
                    error = None
                    if isinstance(exc, BrokenProcessPool):
                        error = "worker process died three times (killed from outside, e.g. out of memory)"
                    elif exc is not None:
                        error = str(exc) if isinstance(exc, TaskError) else f"{type(exc).__name__}: {exc}"
                    finish(task[1], None if exc else future.result(), error)
        queue = sorted(retry, key=lambda t: t[2])
    return results


def simulation_task(job: Job) -> Task:
    """A pool task for one simulation."""
    return (run_job, job, job.cost_hint)
