"""The torch.distributed backend: 2 gloo ranks launched by torchrun give the single-process result."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fedspan.aggregation import cluster_sums
from fedspan.backend import ClientUpdates, RoundWork
from fedspan.data import load_digits
from fedspan.distributed import DistributedError, TorchDistributedBackend, shard_bounds, upward_messages
from fedspan.models import flatten_params, make_model
from fedspan.partition import dirichlet
from fedspan.simulation import InProcessBackend
from fedspan.training import BatchedTrainer, client_seeds

REPO = Path(__file__).resolve().parents[1]


def make_work(seed: int = 3) -> tuple[BatchedTrainer, RoundWork]:
    """A 21-satellite, 2-tree round with an excluded satellite, an empty one and mixed e_n/B_n."""
    d = load_digits()
    model = make_model("mlp", d.input_shape, d.num_classes)
    trainer = BatchedTrainer(model, d.x_train, d.y_train, lr=0.1, momentum=0.9)
    n = 21
    parts = dirichlet(d.y_train.numpy(), n, 0.5, np.random.default_rng(seed))
    parts[4] = np.zeros(0, dtype=np.int64)
    parent = np.array([-1] + list(range(0, 9)) + [-1] + list(range(10, 20)))
    tree_of = np.array([0] * 10 + [1] * 11)
    include = np.ones(n, dtype=bool)
    include[7] = False
    start = torch.stack([flatten_params(model), flatten_params(make_model("mlp", d.input_shape, 10, seed=9))])
    rng = np.random.default_rng(seed)
    work = RoundWork(start_params=start, tree_of=tree_of, parent=parent, include=include,
                     local_steps=rng.integers(1, 6, n), batch_size=rng.integers(4, 20, n),
                     sample_weight=np.array([len(p) for p in parts], dtype=np.float64),
                     client_indices=parts, round_index=2, seed=seed)
    return trainer, work


WORKER = textwrap.dedent("""
    import sys, torch
    from dataclasses import replace
    sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
    torch.set_num_threads(1)
    from fedspan.distributed import TorchDistributedBackend, init_process_group_from_env
    from test_fl_distributed import make_work
    init_process_group_from_env()
    trainer, work = make_work()
    backend = TorchDistributedBackend(trainer)
    upd = backend.run_round(work)
    clients = backend.run_round(replace(work, keep_client_updates=True)).client_updates
    torch.save({{"sums": upd.tree_sums, "w": upd.weight_sums, "loss": upd.train_loss, "msgs": upd.messages,
                "none": upd.client_updates is None, "clients": clients}}, {out!r} + f"/rank{{backend.rank}}.pt")
    torch.distributed.destroy_process_group()
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_backend_matches_direct_reduce():
    trainer, work = make_work()
    upd = TorchDistributedBackend(trainer).run_round(work)
    mine = np.flatnonzero(work.include)
    res = trainer.train(work.start_params[work.tree_of[mine]], [work.client_indices[i] for i in mine],
                        work.local_steps[mine], work.batch_size[mine], client_seeds(work.seed, 2, mine))
    sums, wsum = cluster_sums(res.params, work.sample_weight[mine], work.tree_of[mine], 2)
    torch.testing.assert_close(upd.tree_sums, sums, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(upd.weight_sums, wsum)
    assert upd.messages == 21 - 2 - 2  # 19 edges; node 7 is excluded, cutting edges 6->7 and 7->8
    assert np.isfinite(upd.train_loss) and upd.train_loss > 0


def assert_same_clients(got: ClientUpdates, want: ClientUpdates, atol: float = 0.0) -> None:
    np.testing.assert_array_equal(got.ids, want.ids)
    torch.testing.assert_close(got.params, want.params, rtol=0, atol=atol)
    for key in ("weights", "train_loss", "tree_of"):
        np.testing.assert_allclose(getattr(got, key), getattr(want, key), rtol=1e-6)


def test_per_satellite_updates_are_the_same_from_both_backends():
    trainer, work = make_work()
    work = replace(work, keep_client_updates=True)
    inprocess = InProcessBackend(trainer).run_round(work).client_updates
    assert_same_clients(TorchDistributedBackend(trainer).run_round(work).client_updates, inprocess)
    assert list(inprocess.ids) == [i for i in range(21) if i != 7]  # the excluded satellite sends nothing


def test_two_gloo_ranks_equal_single_process(tmp_path):
    trainer, work = make_work()
    reference = TorchDistributedBackend(trainer).run_round(work)
    clients_reference = InProcessBackend(trainer).run_round(replace(work, keep_client_updates=True)).client_updates
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(repo=str(REPO), tests=str(REPO / "tests"), out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(script)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for got in results:  # every rank ends with the same, single-process answer
        torch.testing.assert_close(got["sums"], reference.tree_sums, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got["w"], reference.weight_sums, rtol=1e-12)
        assert got["loss"] == pytest.approx(reference.train_loss, rel=1e-6)
        assert got["msgs"] == reference.messages
        # A strategy that asks for the per-satellite models gets all of them on every rank.
        assert got["none"]
        assert_same_clients(got["clients"], clients_reference, atol=1e-6)


def test_shards_are_contiguous_and_cover():
    for n, world in [(0, 3), (5, 2), (21, 4), (1584, 7)]:
        bounds = [shard_bounds(n, world, r) for r in range(world)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        sizes = [hi - lo for lo, hi in bounds]
        assert max(sizes) - min(sizes) <= 1


def test_messages_and_bad_work():
    assert upward_messages(np.array([-1, 0, 1, -1, 3]), np.array([True, True, False, True, True])) == 2
    trainer, work = make_work()
    work.batch_size = work.batch_size[:-1]
    with pytest.raises(DistributedError, match="batch_size has 20 entries for 21 satellites"):
        TorchDistributedBackend(trainer).run_round(work)


def test_init_without_torchrun_env_is_a_clear_error(monkeypatch):
    from fedspan.distributed import init_process_group_from_env
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(DistributedError, match="launch with torchrun"):
        init_process_group_from_env()


SIM_OPTIONS = {"rounds": 3, "max_train": 600, "max_test": 300, "strategy": "mst", "num_trees": 2,
               "partition": "dirichlet", "alpha": 1.0, "seed": 4}


@pytest.mark.slow
def test_torchrun_simulation_matches_in_process(tmp_path):
    """``torchrun -m fedspan.distributed`` on 2 gloo ranks reproduces the in-process run's metrics."""
    import json

    from fedspan.simulation import SimulationConfig, run_simulation

    reference = run_simulation(SimulationConfig(**SIM_OPTIONS)).metrics
    config = tmp_path / "run.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in SIM_OPTIONS.items()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "fedspan.distributed", "--config", str(config), "--output-dir", str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 rounds on 2 rank(s)" in proc.stdout
    rows = json.loads((tmp_path / "out" / "metrics.json").read_text())["rounds"]
    assert len(rows) == len(reference) == 3
    for got, want in zip(rows, reference):
        assert got["messages"] == want.messages and got["participating"] == want.participating
        assert got["latency_s"] == pytest.approx(want.latency_s, rel=1e-12)
        assert got["energy_j"] == pytest.approx(want.energy_j, rel=1e-12)
        assert got["test_loss"] == pytest.approx(want.test_loss, rel=1e-5)
        assert got["train_loss"] == pytest.approx(want.train_loss, rel=1e-5)
        assert abs(got["test_accuracy"] - want.test_accuracy) <= 1 / 300 + 1e-12


def test_main_reports_bad_config_in_one_line(tmp_path, capsys):
    from fedspan.distributed import main

    bad = tmp_path / "bad.toml"
    bad.write_text("rounds = 2\nwarp_drive = true\n")
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "warp-drive" in err and err.count("\n") == 1
