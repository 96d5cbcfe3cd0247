"""Replay a saved ``plan.json`` (``fedspan run --plan``): the same forests and resources, round by round.

A plan file is untrusted input: :func:`fedspan.planfile.read_plan` checks its structure (types,
index ranges, a forest), and every replayed round is checked against the scenario it runs on as
a fresh plan would be: the same satellites, tree links that are candidate links of the round,
CPU frequency and transmit power within the satellites' limits, local steps and batch sizes
within the planner's bounds. A violation is a one-line error naming the file and round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from optimization.forests import distance_forest, find_edges

from fedspan.planfile import planned_trees, read_plan
from fedspan.strategies.base import RoundContext, StrategyError
from fedspan.strategies.registry import register_strategy
from optimization.problem import TreeCount, fixed_tree_count
from fedspan.strategies.trees import ForestStrategy


@register_strategy("replay")
class PlanReplay(ForestStrategy):
    """Use round r of a saved plan; where the round's satellites differ from the plan's (a satellite
    died, ran out of energy or left the graph), fall back to the distance forest and say so."""

    def __init__(self, plan_file: str, num_trees: TreeCount | None = None, mix_every: int | None = None) -> None:
        self.plan_file = str(plan_file)
        self.doc = read_plan(Path(plan_file))
        self.rounds = {int(rec["round"]): rec for rec in self.doc["rounds"]}
        super().__init__(num_trees or planned_trees(Path(plan_file), self.doc.get("options", {})), mix_every)
        self._checked_constellation = False

    def _round(self, ctx: RoundContext) -> dict[str, Any]:
        n_plan = int(self.doc["constellation"]["satellites"])
        if n_plan != len(ctx.available):
            raise StrategyError(f"{self.plan_file}: planned for {n_plan} satellites, the scenario has "
                                f"{len(ctx.available)}")
        if not self._checked_constellation:
            self._check_constellation(ctx)
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
            # The problem's fixed K, or None for a plan made with num_trees "auto" (one tree per component).
            return np.asarray(distance_forest(problem, fixed_tree_count(problem.num_trees))), {"info": {"fallback": reason}}
        self._check_against_scenario(ctx, rec, nodes)
        local = np.full(len(ctx.available), -1)
        local[nodes] = np.arange(len(nodes))
        parent = np.asarray(rec["parent"], dtype=np.int64)[nodes]
        sub_parent = np.where(parent >= 0, local[np.maximum(parent, 0)], -1)
        overrides = {key: np.asarray(rec[key])[nodes] for key in ("cpu_hz", "tx_power_w", "local_steps", "batch_size")}
        overrides["local_steps"] = overrides["local_steps"].astype(np.int64)
        overrides["batch_size"] = overrides["batch_size"].astype(np.int64)
        return sub_parent, {**overrides, "idle_s": float(rec.get("idle_s", 0.0)),
                            "info": {"replayed_from": self.plan_file}}

    def _check_constellation(self, ctx: RoundContext) -> None:
        """The plan's satellites must be the scenario's (same NORAD ids and names, in order)."""
        con, planned = ctx.scenario.constellation, self.doc["constellation"]
        for key, mine in (("norad_ids", [int(x) for x in con.norad_ids]), ("names", list(con.names))):
            if list(planned[key]) != mine:  # read_plan made both required
                raise StrategyError(f"{self.plan_file}: planned for constellation "
                                    f"'{planned.get('source', '?')}', whose satellites ({key}) differ from "
                                    f"those of '{ctx.scenario.config.constellation}'")
        self._checked_constellation = True

    def _check_against_scenario(self, ctx: RoundContext, rec: dict[str, Any], nodes: np.ndarray) -> None:
        """Tree links, CPU frequency, power, local steps and batch size of a round, as a fresh plan has them."""
        where = f"{self.plan_file}: round {ctx.round_index}"
        n = len(ctx.available)
        parent = np.asarray(rec["parent"], dtype=np.int64)
        child = nodes[parent[nodes] >= 0]
        if np.any(~np.isin(parent[child], nodes)):
            raise StrategyError(f"{where}: a satellite's parent does not take part in the round")
        _, found = find_edges(ctx.snapshot.edges, n, child, parent[child])
        if not found.all():
            i = int(np.flatnonzero(~found)[0])
            raise StrategyError(f"{where}: {int((~found).sum())} of {len(child)} tree links are not links of "
                                f"this scenario (first: {int(child[i])} -> {int(parent[child[i]])}); was the "
                                f"plan made for another constellation, start time or link policy?")
        res, config = ctx.scenario.resources, ctx.scenario.config
        limits = {"cpu_hz": (np.asarray(res.min_cpu_hz), np.asarray(res.max_cpu_hz)),
                  "tx_power_w": (np.asarray(res.min_tx_power_w), np.asarray(res.max_tx_power_w)),
                  "local_steps": (1, max(config.local_steps_bounds[1], ctx.local_steps)),
                  "batch_size": (1, max(config.batch_bounds[1], ctx.batch_size))}
        for key, (low, high) in limits.items():
            values = np.asarray(rec[key], dtype=float)[nodes]
            lo = np.broadcast_to(np.asarray(low, float), (n,))[nodes] * (1 - 1e-9)
            hi = np.broadcast_to(np.asarray(high, float), (n,))[nodes] * (1 + 1e-9)
            bad = np.flatnonzero((values < lo) | (values > hi))
            if len(bad):
                j = int(bad[0])
                raise StrategyError(f"{where}: {key}[{int(nodes[j])}] = {values[j]:g} is outside this scenario's "
                                    f"limits {lo[j]:g} .. {hi[j]:g}")
