"""The strategy hooks beside plan_round/round_cost: the per-satellite view and the repair of a faulted round."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fedspan.clock import EnergyLedger
from fedspan.simulation import InProcessBackend, Simulation, SimulationConfig, run_simulation
from fedspan.strategies import StrategyError, register_strategy, unregister_strategy
from fedspan.strategies.trees import DistanceMST
from fl_recorder import Recorder


class CoordinateMedian(DistanceMST):
    """Robust aggregation: the coordinate-wise median of the satellites' models (one model)."""

    needs_client_updates = True

    def aggregate(self, ctx, plan, update, models):
        self.seen = (models.clone(), update)
        return torch.median(update.client_updates.params, dim=0).values[None].to(models.dtype)


class KeepsTheLost(DistanceMST):
    """A broken repair: it claims the lost satellites still contribute."""

    def repair(self, ctx, plan, failures):
        return plan


@pytest.fixture(autouse=True, scope="module")
def registered():
    for name, cls in (("test-median", CoordinateMedian), ("test-keeps-lost", KeepsTheLost)):
        register_strategy(name)(cls)
    yield
    for name in ("test-median", "test-keeps-lost"):
        unregister_strategy(name)


@pytest.fixture(scope="module")
def doc_examples():
    """The python blocks of docs/strategies.md, run as written: their namespaces and what they printed."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "strategies.md").read_text()
    # The Flower example needs flwr; tests/test_fl_flower.py runs it (or skips without Flower).
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "flwr" not in b]
    namespaces, out = [], io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for i, block in enumerate(blocks):
                namespaces.append({})
                exec(compile(block, f"docs/strategies.md (example {i + 1})", "exec"), namespaces[-1])  # noqa: S102
        yield namespaces, out.getvalue()
    finally:  # the examples register their policies; other tests see only the real ones
        for name in ("clipped-mst", "mst-no-reattach"):
            unregister_strategy(name)


def one_round(spy_on_repair: bool = False, **config):
    """Round 0 of a 66-satellite digits run: the simulation, the recorded (work, update) and the metrics.

    With ``spy_on_repair`` every ``strategy.repair(ctx, plan, failures)`` call is kept with its
    answer in ``sim.repairs``.
    """
    sim = Simulation(SimulationConfig(rounds=2, lr=0.1, **config))
    sim.backend = rec = Recorder(InProcessBackend(sim.trainer))
    if spy_on_repair:
        sim.repairs, repair = [], sim.strategy.repair

        def spy(ctx, plan, failures):
            sim.repairs.append((plan, failures, repair(ctx, plan, failures)))
            return sim.repairs[-1][2]

        sim.strategy.repair = spy
    state = sim.initial_state()
    metrics = sim.step(state, EnergyLedger(sim.num_satellites))
    return sim, state, rec.rounds[0], metrics


def test_default_strategies_get_only_the_tree_sums():
    _, _, (work, update), _ = one_round(strategy="mst")
    assert not work.keep_client_updates and update.client_updates is None


def test_a_median_strategy_sees_every_contributing_satellite():
    lost_before_forwarding = [{"round": 0, "kind": "satellite", "satellite": 9, "at_fraction": 0.0}]
    sim, state, (work, update), metrics = one_round(strategy="test-median", faults=lost_before_forwarding)
    clients = update.client_updates
    assert work.keep_client_updates and clients is not None
    # Exactly the satellites whose model reaches a root, in id order, with their own weights and losses.
    np.testing.assert_array_equal(clients.ids, np.flatnonzero(work.include))
    assert 9 not in clients.ids and len(clients.ids) == metrics.participating
    np.testing.assert_array_equal(clients.weights, work.sample_weight[clients.ids])
    np.testing.assert_array_equal(clients.tree_of, work.tree_of[clients.ids])
    assert clients.params.shape == (len(clients.ids), state.models.shape[1]) and np.isfinite(clients.train_loss).all()
    # The per-satellite view and the in-network reduce agree: sum w_n params_n is the tree's sum.
    weighted = (clients.params.double() * torch.as_tensor(clients.weights)[:, None]).sum(0)
    torch.testing.assert_close(weighted, update.tree_sums[0], rtol=1e-9, atol=1e-9)
    assert clients.weights.sum() == pytest.approx(update.weight_sums[0])
    start, _ = sim.strategy.seen
    torch.testing.assert_close(clients.deltas(start), clients.params - start[0], rtol=0, atol=0)
    # The strategy's own rule made the next model: the coordinate-wise median, not FedAvg.
    median = clients.params.sort(dim=0).values[(len(clients.ids) - 1) // 2]
    torch.testing.assert_close(state.models[0], median, rtol=0, atol=0)
    fedavg = (update.tree_sums[0] / update.weight_sums[0]).float()
    assert not torch.allclose(state.models[0], fedavg) and metrics.test_accuracy > 0.3


def test_a_strategy_repair_hook_decides_the_repaired_forest(doc_examples):
    root_dies_first = [{"round": 0, "kind": "root", "at_fraction": 0.0}]
    # docs/strategies.md's NoReattach: orphaned subtrees become trees of their own.
    sim, _, (work, _), metrics = one_round(True, strategy="mst-no-reattach", faults=root_dies_first)
    (plan, failures, repaired), = sim.repairs
    root = int(np.flatnonzero(failures.lost)[0])
    children = np.flatnonzero(plan.parent == root)
    assert failures.dead[root] and not failures.contributing[root]
    # The reduce ran on the hook's forest: the lost root's children lead trees of their own.
    np.testing.assert_array_equal(work.parent, repaired.parent)
    np.testing.assert_array_equal(work.include, failures.contributing)
    assert metrics.num_roots == len(children) > 1
    assert all(f"satellite {c} promoted to root" in metrics.faults for c in children)
    # The default repair re-attaches the orphans instead.
    _, _, (default_work, _), default_metrics = one_round(strategy="mst", faults=root_dies_first)
    assert default_metrics.num_roots < metrics.num_roots
    assert not np.array_equal(default_work.parent, work.parent)


def test_a_repair_that_revives_a_lost_satellite_is_refused():
    with pytest.raises(StrategyError, match="test-keeps-lost' repaired round 0"):
        one_round(strategy="test-keeps-lost", faults=[{"round": 0, "kind": "root", "at_fraction": 0.0}])


def test_the_examples_in_docs_strategies_run_and_do_what_they_say(doc_examples):
    (clipped, repaired), printed = doc_examples
    assert "clipped FedAvg: test accuracy" in printed and "trees after the repair" in printed
    assert clipped["result"].final_accuracy > 0.3
    # Without clipping (an unreachable norm) the example is FedAvg, i.e. the mst policy.
    loose = run_simulation(SimulationConfig(strategy="clipped-mst", strategy_options={"max_norm": 1e9},
                                            rounds=1, lr=0.1))
    fedavg = run_simulation(SimulationConfig(strategy="mst", rounds=1, lr=0.1))
    torch.testing.assert_close(loose.global_model, fedavg.global_model, rtol=0, atol=1e-6)
    tight = run_simulation(SimulationConfig(strategy="clipped-mst", strategy_options={"max_norm": 1e-3},
                                            rounds=1, lr=0.1))
    assert (tight.global_model - fedavg.global_model).abs().max() > 1e-3
    # The repair example kept the orphans apart: several trees, each noted as promoted.
    row = repaired["result"].metrics[0]
    assert row.num_roots > 1 and row.faults.count("promoted to root") == row.num_roots


def test_a_strategy_family_builds_prefixed_names_on_demand():
    """``register_strategy_family``: how ``flower:<Class>`` resolves without the registry importing its module."""
    from fedspan.strategies import StrategyError, make_strategy, register_strategy_family
    from fedspan.strategies.registry import _FAMILIES, strategy_class
    from fedspan.strategies.trees import DistanceMST

    built = {}

    def resolve(name: str) -> type:
        if name.endswith("bad"):
            raise StrategyError(f"unknown member '{name}'")
        return built.setdefault(name, type("Member", (DistanceMST,), {"name": name}))

    register_strategy_family("test-family:", resolve)
    try:
        policy = make_strategy("test-family:one", num_trees=2)
        assert isinstance(policy, DistanceMST) and policy.name == "test-family:one" and policy.num_trees == 2
        assert strategy_class("test-family:one") is type(policy)
        with pytest.raises(StrategyError, match="unknown member 'test-family:bad'"):
            make_strategy("test-family:bad")
        with pytest.raises(StrategyError, match="expected an integer >= 1 or 'auto'"):
            make_strategy("test-family:one", num_trees="many")  # a tree count, by takes_num_trees
    finally:
        _FAMILIES.pop("test-family:")
    with pytest.raises(StrategyError, match="unknown strategy 'test-family:one'"):
        strategy_class("test-family:one")
