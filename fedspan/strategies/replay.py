"""Replay a saved ``plan.json`` (``fedspan run --plan``): the same forests and resources, round by round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from optimization.forests import distance_forest

from fedspan.strategies.base import RoundContext, StrategyError
from fedspan.strategies.registry import register_strategy
from fedspan.strategies.trees import ForestStrategy


@register_strategy("replay")
class PlanReplay(ForestStrategy):
    """Use round r of a saved plan; where the round's satellites differ from the plan's (a satellite
    died, ran out of energy or left the graph), fall back to the distance forest and say so."""

    def __init__(self, plan_file: str, num_trees: int | None = None, mix_every: int | None = None) -> None:
        from fedspan.horizon import read_plan  # the plan format lives with the planner

        self.plan_file = str(plan_file)
        self.doc = read_plan(Path(plan_file))
        self.rounds = {int(rec["round"]): rec for rec in self.doc["rounds"]}
        planned_trees = int(self.doc.get("options", {}).get("trees", 1) or 1)
        super().__init__(num_trees or planned_trees, mix_every)

    def _round(self, ctx: RoundContext) -> dict[str, Any]:
        n_plan = int(self.doc["constellation"]["satellites"])
        if n_plan != len(ctx.available):
            raise StrategyError(f"{self.plan_file}: planned for {n_plan} satellites, the scenario has "
                                f"{len(ctx.available)}")
        rec = self.rounds.get(ctx.round_index)
        if rec is None:
            raise StrategyError(f"{self.plan_file}: has no round {ctx.round_index} "
                                f"(it plans rounds 0..{max(self.rounds)})")
        if abs(float(rec["time_s"]) - ctx.time_s) > 1e-6 * max(1.0, ctx.time_s):
            raise StrategyError(f"{self.plan_file}: round {ctx.round_index} was planned for t = "
                                f"{rec['time_s']} s, the run is at t = {ctx.time_s} s (use the plan's "
                                f"round interval)")
        return rec

    def sub_forest(self, ctx: RoundContext, problem: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """The planned forest restricted to this round's satellites, or the distance forest if it does not fit."""
        rec = self._round(ctx)
        planned = np.flatnonzero(np.asarray(rec["participating"], bool))
        nodes = np.flatnonzero(ctx.available & np.asarray(ctx.snapshot.active, bool))
        if not np.array_equal(planned, nodes):
            reason = (f"plan round {ctx.round_index} spans {len(planned)} satellites, {len(nodes)} are "
                      f"available now: distance forest used instead")
            return np.asarray(distance_forest(problem, self.num_trees)), {"info": {"fallback": reason}}
        local = np.full(len(ctx.available), -1)
        local[nodes] = np.arange(len(nodes))
        parent = np.asarray(rec["parent"], dtype=np.int64)[nodes]
        sub_parent = np.where(parent >= 0, local[np.maximum(parent, 0)], -1)
        overrides = {key: np.asarray(rec[key])[nodes] for key in ("cpu_hz", "tx_power_w", "local_steps", "batch_size")}
        overrides["local_steps"] = overrides["local_steps"].astype(np.int64)
        overrides["batch_size"] = overrides["batch_size"].astype(np.int64)
        return sub_parent, {**overrides, "idle_s": float(rec.get("idle_s", 0.0)),
                            "info": {"replayed_from": self.plan_file}}
