"""Flower interop (fedspan.strategies.flower): Flower's own strategies over a Fed-Span topology.

The first tests need no Flower (the relay clock, the proximal term, the lazy import); the rest
import ``flwr`` and skip cleanly without it (``pip install -e ".[flower]"`` and
``pip install --no-deps flwr==1.42.0``, see README).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fedspan.backend import RoundUpdate, RoundWork
from fedspan.clock import ComputeLoad, EnergyLedger, forest_round_cost
from fedspan.simulation import InProcessBackend, Simulation, SimulationConfig, run_simulation
from fedspan.strategies import StrategyError, make_strategy
from fedspan.training import BatchedTrainer
from optimization.costs import transfer_costs

HAS_FLOWER = importlib.util.find_spec("flwr") is not None
ROOT = Path(__file__).resolve().parents[1]
#: The nine rules of issue 24 and FedAvg, with options that make each do something (f = 1 Byzantine node).
STRATEGIES = {
    "FedAvg": {}, "FedAvgM": {"server_momentum": 0.9}, "FedAdam": {"eta": 0.01}, "FedYogi": {"eta": 0.01},
    "FedAdagrad": {"eta": 0.01}, "FedProx": {"proximal_mu": 0.1}, "FedMedian": {}, "FedTrimmedAvg": {"beta": 0.2},
    "Krum": {"num_malicious_nodes": 1}, "Bulyan": {"num_malicious_nodes": 1},
}
TREE_RULES = {"FedAvg", "FedAvgM", "FedAdam", "FedYogi", "FedAdagrad", "FedProx"}


# --- without Flower ---------------------------------------------------------------------------------
def test_importing_fedspan_never_imports_flower():
    code = ("import sys, fedspan, fedspan.simulation, fedspan.strategies, fedspan.cli, fedspan.config; "
            "fedspan.config.STRATEGY('fedspan'); print('flwr' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(HAS_FLOWER, reason="checks the message shown without Flower")
def test_without_flower_the_error_says_how_to_install_it():
    with pytest.raises(StrategyError, match=r"pip install .*flwr==1\.42\.0"):
        make_strategy("flower:FedAdam", eta=0.01)


def test_relayed_uplinks_carry_their_subtree_and_the_dispatch_one_model():
    # 0 <- 1 <- 2, 0 <- 3: with relaying, 1 forwards its own and 2's model; 3 and 2 one each.
    parent = np.array([-1, 0, 1, 0])
    rpw, delay, bits, cap = np.full(4, 1e6), np.full(4, 1e-3), 1e5, 1e12
    power = np.array([1.0, 2.0, 0.5, 1.5])
    load = ComputeLoad(cpu_hz=np.full(4, 1e9), local_steps=np.ones(4), batch_size=np.ones(4),
                       cycles_per_sample=np.full(4, 1e6), capacitance=np.full(4, 1e-28))
    summed = forest_round_cost(parent, rpw, delay, bits, cap, power, load)
    relayed = forest_round_cost(parent, rpw, delay, bits, cap, power, load, up_bits=bits * np.array([4, 2, 1, 1]))
    one_t, one_e = transfer_costs(bits, rpw, power, cap, delay)
    two_t, two_e = transfer_costs(2 * bits, rpw, power, cap, delay)
    down_e = np.zeros(4)
    np.add.at(down_e, parent[1:], transfer_costs(bits, rpw[1:], power[parent[1:]], cap, delay[1:])[1])
    assert np.allclose(summed.transmit_energy_j, [0, one_e[1], one_e[2], one_e[3]] + down_e)
    assert np.allclose(relayed.transmit_energy_j, [0, two_e[1], one_e[2], one_e[3]] + down_e)
    assert relayed.up_done_s[0] == pytest.approx(load.time_s()[2] + one_t[2] + two_t[1])
    assert relayed.latency_s > summed.latency_s


def test_relay_bits_count_contributing_models_in_each_subtree():
    from types import SimpleNamespace

    from fedspan.strategies.base import relay_bits

    ctx = SimpleNamespace(scenario=SimpleNamespace(model_bits=10.0))
    parent = np.array([-1, 0, 1, 1, -1, 4])
    contributing = np.array([True, False, True, True, True, True])  # 1 relays without a model of its own
    assert relay_bits(ctx, parent, contributing).tolist() == [30.0, 20.0, 10.0, 10.0, 20.0, 10.0]


def _trainer(per_client=False):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
    x, y = torch.randn(60, 8), torch.randint(0, 3, (60,))
    return BatchedTrainer(model, x, y, lr=0.5, per_client=per_client)


@pytest.mark.parametrize("per_client", [False, True])
def test_proximal_term_adds_mu_times_the_drift_to_every_gradient(per_client):
    trainer = _trainer(per_client)
    start = torch.randn(3, trainer.num_params)
    clients = [np.arange(0, 20), np.arange(20, 40), np.arange(40, 60)]
    seeds, batch = np.array([1, 2, 3]), np.full(3, 8)

    def run(steps, mu=0.0):
        return trainer.train(start, clients, np.full(3, steps), batch, seeds, proximal_mu=mu).params

    mu = 0.3
    one, two, two_prox = run(1), run(2), run(2, mu)
    assert torch.equal(run(1, mu), one)  # at the first step w = w_start: no pull yet
    # Second step, same w1 and mini-batch: the only change is -lr * mu * (w1 - w_start).
    assert torch.allclose(two_prox - two, -trainer.lr * mu * (one - start), atol=1e-6)
    with pytest.raises(Exception, match="proximal_mu"):
        run(1, -1.0)


# --- with Flower ------------------------------------------------------------------------------------
class KeepsClients:
    """In-process backend that also returns every satellite's model (so Flower can be replayed on them)."""

    def __init__(self, inner: InProcessBackend) -> None:
        self.inner, self.rounds = inner, []

    def run_round(self, work: RoundWork) -> RoundUpdate:
        work.keep_client_updates = True
        update = self.inner.run_round(work)
        self.rounds.append((work, update))
        return update


def _run(strategy: str, options: dict, rounds: int = 5, **config):
    """A small-shell run (66 satellites, digits) recording what each round's aggregate got and returned."""
    sim = Simulation(SimulationConfig(strategy=strategy, strategy_options=options, rounds=rounds, lr=0.1, **config))
    sim.backend = rec = KeepsClients(InProcessBackend(sim.trainer))
    seen, aggregate = [], sim.strategy.aggregate

    def spy(ctx, plan, update, models):
        seen.append((models.clone(), plan, update, aggregate(ctx, plan, update, models)))
        return seen[-1][3]

    sim.strategy.aggregate = spy
    state, ledger = sim.initial_state(), EnergyLedger(sim.num_satellites)
    metrics = [sim.step(state, ledger) for _ in range(rounds)]
    return sim, seen, metrics, ledger, rec


def _flower_reference(name, options, seen, dtype=torch.float64):
    """Flower's own strategy, fed the same global model and every satellite's update each round.

    With ``float64`` the float32 updates go in as float64 copies (the same values): Flower then sums in
    float64 like the in-network reduce, and FedAdam/FedYogi/FedAdagrad's ``m / (sqrt(v) + tau)``, which
    amplifies rounding of the mean by up to 1 / (4 tau) = 250, compares the rules rather than two float32
    summation orders. With ``float32`` Flower gets exactly what the adapter hands it for per-satellite rules.
    """
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
    from flwr.serverapp import strategy as fs

    from fedspan.strategies.flower import _local_grid, _quiet_flower

    ref, out = getattr(fs, name)(**options), []
    for r, (models, _plan, update, _ours) in enumerate(seen):
        clients = update.client_updates
        with _quiet_flower():
            sent = {m.metadata.dst_node_id: m for m in ref.configure_train(
                r + 1, ArrayRecord({"w": Array(models[0].numpy())}), ConfigRecord(), _local_grid(clients.ids))}
            replies = [Message(RecordDict({"arrays": ArrayRecord({"w": Array(clients.params[j].to(dtype).numpy())}),
                                           "metrics": MetricRecord({"num-examples": float(clients.weights[j])})}),
                               reply_to=sent[int(i)]) for j, i in enumerate(clients.ids)]
            arrays, _ = ref.aggregate_train(r + 1, replies)
        out.append(None if arrays is None else torch.as_tensor(arrays["w"].numpy()))
    return out


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_each_flower_rule_over_five_rounds_equals_flower_on_the_same_updates(name):
    pytest.importorskip("flwr")
    options = STRATEGIES[name]
    sim, seen, metrics, ledger, _ = _run(f"flower:{name}", {"topology": "mst", **options})
    assert sim.strategy.reduce == ("tree" if name in TREE_RULES else "clients")
    assert sim.strategy.needs_client_updates == (name not in TREE_RULES)
    # Per-satellite rules hand Flower exactly the satellites' float32 models: the same result, bit for bit.
    tree = name in TREE_RULES
    reference = _flower_reference(name, options, seen, torch.float64 if tree else torch.float32)
    assert len(reference) == 5 and all(m.participating == 66 for m in metrics)
    for r, ((models, _plan, _update, ours), theirs) in enumerate(zip(seen, reference)):
        assert theirs is not None, f"round {r}: Flower did not aggregate"
        gap = float((ours[0].double() - theirs.double()).abs().max())
        assert gap <= (1e-6 * float(theirs.abs().max()) if tree else 0.0), \
            f"{name} round {r}: max |ours - Flower's| = {gap:.3g}"
        assert not torch.equal(ours, models)  # the rule moved the model
    if name in TREE_RULES:  # one model per uplink: the spanning aggregation's clock
        assert metrics[0].messages == 66 - metrics[0].num_roots


def test_fedspan_fedavg_over_one_tree_equals_flowers_fedavg():
    pytest.importorskip("flwr")
    _, builtin, builtin_metrics, builtin_ledger, _ = _run("mst", {}, rounds=3)
    _, flower, flower_metrics, flower_ledger, _ = _run("flower:FedAvg", {"topology": "mst"}, rounds=3)
    reference = _flower_reference("FedAvg", {}, builtin)  # Flower's FedAvg on the built-in run's own updates
    for (_, _, _, ours), (_, _, _, adapter), theirs in zip(builtin, flower, reference):
        scale = float(theirs.abs().max())
        assert float((ours[0] - theirs).abs().max()) <= 1e-6 * scale
        assert torch.equal(adapter, ours)  # one reply of weight 1: Flower's FedAvg returns the tree's mean as is
    assert [m.test_accuracy for m in flower_metrics] == [m.test_accuracy for m in builtin_metrics]
    assert flower_ledger.total_energy_j == builtin_ledger.total_energy_j


def test_rules_that_need_every_update_pay_for_relaying_them_to_the_root():
    pytest.importorskip("flwr")
    _, _, tree_metrics, tree_ledger, _ = _run("flower:FedAvg", {"topology": "mst"}, rounds=1)
    sim, _, relay_metrics, relay_ledger, rec = _run("flower:FedMedian", {"topology": "mst"}, rounds=1)
    work = rec.rounds[0][0]
    tree, relay = tree_ledger.records[0], relay_ledger.records[0]
    assert np.array_equal(tree.compute_energy_j, relay.compute_energy_j)  # same plan, same training
    # Every uplink carries its subtree's models: a leaf sends one, as in the tree; a relay sends more.
    parent, include = work.parent, np.asarray(work.include, bool)
    count = np.zeros(len(parent))
    for n in np.flatnonzero(include):  # walk each model up to its root
        node = n
        while node >= 0:
            count[node] += 1
            node = parent[node]
    assert relay_metrics[0].num_roots == 1 and count.max() == include.sum()
    leaf = (parent >= 0) & (count == 1)
    assert leaf.any() and np.allclose(relay.transmit_energy_j[leaf], tree.transmit_energy_j[leaf])
    relays = (parent >= 0) & (count > 1)
    assert (relay.transmit_energy_j[relays] > tree.transmit_energy_j[relays]).all()
    assert relay.transmit_energy_j.sum() > 2 * tree.transmit_energy_j.sum()
    assert relay_metrics[0].latency_s > tree_metrics[0].latency_s


def test_proximal_mu_from_flowers_config_reaches_local_training():
    pytest.importorskip("flwr")
    _, _, _, _, prox = _run("flower:FedProx", {"topology": "mst", "proximal_mu": 0.5}, rounds=1)
    _, _, _, _, plain = _run("flower:FedAvg", {"topology": "mst"}, rounds=1)
    (work, update), (plain_work, plain_update) = prox.rounds[0], plain.rounds[0]
    assert work.proximal_mu == 0.5 and plain_work.proximal_mu == 0.0
    start = work.start_params[0]
    drift = (update.client_updates.params - start).norm(dim=1)
    plain_drift = (plain_update.client_updates.params - start).norm(dim=1)
    assert bool((drift < plain_drift).all())  # the proximal term holds every satellite nearer the global model


def test_a_flower_rule_over_the_fedspan_planner_and_a_faulted_round():
    pytest.importorskip("flwr")
    faults = [{"round": 0, "kind": "root", "at_fraction": 0.0}]
    result = run_simulation(SimulationConfig(strategy="flower:Krum", strategy_options={"num_malicious_nodes": 1},
                                             rounds=2, lr=0.1, faults=faults))
    assert "promoted" in result.metrics[0].faults and result.metrics[0].fault_extra_latency_s > 0
    assert all(m.participating > 60 for m in result.metrics)


@pytest.mark.parametrize("name, options, message", [
    ("flower:FedNope", {}, r"unknown Flower strategy 'FedNope' \(choose from .*flower:FedAdam"),
    ("flower:FedAdam", {"etaa": 0.1}, r"has no option 'etaa' \(options: topology, reduce, num_trees, .*eta"),
    ("flower:FedAdam", {"eta": "fast"}, r"option eta='fast' must be a number"),
    ("flower:Krum", {"num_malicious_nodes": 1.5}, r"num_malicious_nodes=1.5 must be an integer"),
    ("flower:FedTrimmedAvg", {"beta": 0.7}, r"beta"),
    ("flower:FedAvg", {"fraction_train": 0.5}, r"fraction_train = 0.5"),
    ("flower:FedAvg", {"topology": "gossip"}, r"topology 'gossip' keeps several models"),
    ("flower:FedAvg", {"reduce": "sideways"}, r"reduce must be one of tree, clients"),
])
def test_bad_flower_names_and_options_are_one_line_errors(name, options, message):
    pytest.importorskip("flwr")
    with pytest.raises(StrategyError, match=message) as info:
        make_strategy(name, **options)
    assert "\n" not in str(info.value)


def test_cli_runs_and_compares_flower_strategies(tmp_path, capsys):
    pytest.importorskip("flwr")
    from cli_run import run_cli

    code, out, err = run_cli(["run", "--strategy", "flower:FedAdam", "--strategy-options", "eta=0.01",
                              "--rounds", "1", "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert "flower:FedAdam" in out and (tmp_path / "run" / "metrics.csv").exists()
    code, out, err = run_cli(["run", "--strategy", "flower:FedNope", "--rounds", "1"], capsys)
    assert code != 0 and "unknown Flower strategy 'FedNope'" in err
    code, out, err = run_cli(["compare", "--strategies", "fedspan,flower:FedAvg,flower:FedMedian", "--rounds", "1",
                              "--out", str(tmp_path / "cmp")], capsys)
    assert code == 0, err
    rows = (tmp_path / "cmp" / "summary.csv").read_text().splitlines()
    header = rows[0].split(",")
    table = {r.split(",")[0]: dict(zip(header, r.split(","))) for r in rows[1:]}
    assert set(table) == {"fedspan", "flower:FedAvg", "flower:FedMedian"}
    energy = {k: float(v[next(h for h in header if "energy" in h)]) for k, v in table.items()}
    assert energy["flower:FedAvg"] == pytest.approx(energy["fedspan"])  # same planner, same tree reduce
    assert energy["flower:FedMedian"] > energy["flower:FedAvg"]  # every update relayed to the root


def test_the_flower_example_of_the_docs_runs_as_written(capsys):
    pytest.importorskip("flwr")
    from fedspan.strategies import unregister_strategy

    text = (ROOT / "docs" / "strategies.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "flwr" in b]
    assert blocks
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"docs/strategies.md (Flower example {i + 1})", "exec"), {})  # noqa: S102
    finally:
        unregister_strategy("norm-clipped-fedavg")
    assert re.search(r"norm-clipped FedAvg \(Flower\): test accuracy 0\.\d+", capsys.readouterr().out)


def test_a_round_with_fewer_satellites_than_flower_waits_for_trains_nobody():
    pytest.importorskip("flwr")
    sim, seen, metrics, ledger, _ = _run("flower:FedAvg", {"topology": "mst", "min_available_nodes": 67}, rounds=1)
    assert metrics[0].participating == 0 and "fewer than the 67 nodes FedAvg needs" in metrics[0].fallback
    models, _plan, _update, out = seen[0]
    assert torch.equal(out, models) and ledger.records[0].compute_energy_j.sum() == 0
