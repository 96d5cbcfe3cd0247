"""Batched local training equals a plain per-client torch loop, and does not depend on batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fedspan.aggregation import ForestError, cluster_sums
from fedspan.data import load_digits
from fedspan.models import flatten_params, load_flat, make_model
from fedspan.partition import iid
from fedspan.training import (BatchedTrainer, TrainingError, client_seeds, evaluate, mean_train_loss,
                              minibatch_positions)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def clients(n_train: int, sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n_train, s, replace=False)) for s in sizes]


def reference_train(name, digits, start, indices, steps, batch, seeds, lr, momentum, weight_decay):
    """One client at a time with torch.optim.SGD: the textbook loop the batched trainer must match."""
    out, losses = [], []
    for m in range(len(indices)):
        net = load_flat(make_model(name, digits.input_shape, digits.num_classes), start[m])
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        loss = float("nan")
        for step in range(steps[m] if len(indices[m]) else 0):
            pos, valid = minibatch_positions(seeds[m:m + 1], step, np.array([len(indices[m])]), batch[m:m + 1])
            idx = indices[m][pos[0][valid[0]]]
            opt.zero_grad()
            batch_loss = F.cross_entropy(net(digits.x_train[idx]), digits.y_train[idx])
            batch_loss.backward()
            opt.step()
            loss = batch_loss.item()
        out.append(flatten_params(net))
        losses.append(loss)
    return torch.stack(out), torch.tensor(losses)


@pytest.mark.parametrize("name,momentum,weight_decay,per_client",
                         [("mlp", 0.0, 0.0, None), ("mlp", 0.9, 1e-3, None), ("cnn", 0.5, 0.0, None),
                          ("cnn", 0.5, 1e-3, True)])
def test_batched_equals_per_client_loop(digits, name, momentum, weight_decay, per_client):
    sizes = [30, 0, 50, 5, 100, 20, 7]
    idx = clients(len(digits.y_train), sizes)
    steps = np.array([3, 2, 5, 1, 4, 0, 6])
    batch = np.array([8, 8, 16, 10, 32, 4, 3])
    seeds = client_seeds(11, 3, np.arange(len(sizes)))
    model = make_model(name, digits.input_shape, digits.num_classes)
    rng = torch.Generator().manual_seed(0)
    start = flatten_params(model) + 0.01 * torch.randn(len(sizes), flatten_params(model).numel(), generator=rng)
    trainer = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.05, momentum=momentum,
                             weight_decay=weight_decay, per_client=per_client)
    assert trainer.per_client is bool(per_client)  # the small models batch with vmap on CPU
    got = trainer.train(start, idx, steps, batch, seeds)
    ref_params, ref_loss = reference_train(name, digits, start, idx, steps, batch, seeds, 0.05, momentum, weight_decay)
    torch.testing.assert_close(got.params, ref_params, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.last_loss, ref_loss, rtol=1e-5, atol=1e-6, equal_nan=True)
    # Clients without data or without steps do not move, and report no loss.
    assert torch.equal(got.params[1], start[1]) and torch.equal(got.params[5], start[5])
    assert got.last_loss[[1, 5]].isnan().all() and not got.last_loss[[0, 2, 3, 4, 6]].isnan().any()
    assert not torch.equal(got.params[0], start[0])


def test_large_conv_models_train_per_client_on_cpu_and_agree_with_vmap(digits):
    model = make_model("cnn-large", digits.input_shape, digits.num_classes)
    looped = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.05, momentum=0.5)
    assert looped.per_client and looped.to("cpu") is looped
    vmapped = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.05, momentum=0.5, per_client=False)
    idx = clients(len(digits.y_train), [20, 0, 9])
    args = (flatten_params(model).repeat(3, 1), idx, np.array([2, 3, 1]), np.array([8, 4, 16]),
            client_seeds(2, 1, np.arange(3)))
    a, b = looped.train(*args), vmapped.train(*args)
    torch.testing.assert_close(a.params, b.params, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(a.last_loss, b.last_loss, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_results_do_not_depend_on_batching_or_chunking(digits):
    idx = clients(len(digits.y_train), [40, 25, 60, 10, 33, 80], seed=1)
    steps, batch = np.array([5, 3, 4, 2, 5, 1]), np.array([16, 8, 16, 4, 12, 32])
    seeds = client_seeds(5, 0, np.arange(6))
    model = make_model("mlp", digits.input_shape, digits.num_classes)
    start = flatten_params(model).repeat(6, 1)
    trainer = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.1, momentum=0.9)
    whole = trainer.train(start, idx, steps, batch, seeds)
    first = trainer.train(start[:2], idx[:2], steps[:2], batch[:2], seeds[:2])
    rest = trainer.train(start[2:], idx[2:], steps[2:], batch[2:], seeds[2:])
    torch.testing.assert_close(torch.cat([first.params, rest.params]), whole.params, rtol=1e-5, atol=1e-6)
    tiny = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.1, momentum=0.9, memory_budget_floats=1)
    assert tiny.chunk_size(16) == 1  # one client per vmapped call
    torch.testing.assert_close(tiny.train(start, idx, steps, batch, seeds).params, whole.params, rtol=1e-5, atol=1e-6)
    # Reversing the client order permutes the result rows and nothing else.
    rev = trainer.train(start, idx[::-1], steps[::-1], batch[::-1], seeds[::-1])
    torch.testing.assert_close(rev.params.flip(0), whole.params, rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), min_size=1, max_size=12),
       st.integers(0, 2**63 - 1), st.integers(0, 100))
def test_minibatches_are_distinct_in_range_and_row_local(rows, seed, step):
    sizes = np.array([r[0] for r in rows])
    batch = np.array([r[1] for r in rows])
    seeds = client_seeds(seed, 0, np.arange(len(rows)))
    pos, valid = minibatch_positions(seeds, step, sizes, batch)
    for m in range(len(rows)):
        chosen = pos[m][valid[m]]
        assert len(chosen) == min(sizes[m], batch[m]) and len(np.unique(chosen)) == len(chosen)
        assert np.all((chosen >= 0) & (chosen < max(sizes[m], 1)))
        alone, alone_valid = minibatch_positions(seeds[m:m + 1], step, sizes[m:m + 1], batch[m:m + 1])
        assert np.array_equal(alone[0][alone_valid[0]], chosen)


def test_minibatches_are_uniform():
    seeds = client_seeds(0, 0, np.arange(2000))
    pos, _ = minibatch_positions(seeds, 0, np.full(2000, 10), np.full(2000, 3))
    counts = np.bincount(pos.ravel(), minlength=10)
    assert counts.min() > 0.9 * 600 and counts.max() < 1.1 * 600  # 6000 draws over 10 positions


def test_client_seeds_are_distinct_per_round_and_satellite():
    a = client_seeds(1, 0, np.arange(1000))
    assert len(np.unique(a)) == 1000
    assert not np.intersect1d(a, client_seeds(1, 1, np.arange(1000))).size
    assert np.array_equal(a[500:], client_seeds(1, 0, np.arange(500, 1000)))


def test_cluster_sums_of_a_round_match_brute_force():
    rng = np.random.default_rng(0)
    params = torch.randn(9, 5)
    tree_of, w = rng.integers(0, 3, 9), rng.uniform(0, 10, 9)
    sums, wsum = cluster_sums(params, w, tree_of, 4)
    assert sums.dtype == torch.float64 and sums.shape == (4, 5)
    for k in range(4):
        members = tree_of == k
        expect = (params.double().numpy()[members] * w[members, None]).sum(0)
        np.testing.assert_allclose(sums[k].numpy(), expect, rtol=1e-12, atol=1e-12)
        assert wsum[k] == pytest.approx(w[members].sum())
    with pytest.raises(ForestError, match=r"cluster ids must lie in \[0, 2\)"):
        cluster_sums(params, w, tree_of, 2)


def test_mean_train_loss_ignores_untrained():
    assert mean_train_loss(torch.tensor([1.0, float("nan"), 3.0]), np.array([1.0, 5.0, 3.0])) == pytest.approx(2.5)


def test_input_errors(digits):
    model = make_model("mlp", digits.input_shape, digits.num_classes)
    trainer = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.1)
    start = flatten_params(model).repeat(2, 1)
    idx = [np.array([0, 1]), np.array([2])]
    with pytest.raises(TrainingError, match="batch_size must be >= 1"):
        trainer.train(start, idx, np.array([1, 1]), np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(TrainingError, match="outside the training set"):
        trainer.train(start, [np.array([0]), np.array([10**6])], np.array([1, 1]), np.array([1, 1]), np.array([0, 1]))
    with pytest.raises(TrainingError, match=r"start_params must be \(2, 4810\)"):
        trainer.train(start[:1], idx, np.array([1, 1]), np.array([1, 1]), np.array([0, 1]))
    with pytest.raises(TrainingError, match="lr > 0"):
        BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.0)


def test_fedavg_rounds_learn_digits(digits):
    """Ten satellites, IID digits, 15 FedAvg rounds built from the batched trainer: > 85 % accuracy."""
    model = make_model("mlp", digits.input_shape, digits.num_classes)
    trainer = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.1, momentum=0.5)
    parts = iid(digits.y_train.numpy(), 10, np.random.default_rng(0))
    weights = np.array([len(p) for p in parts], dtype=np.float64)
    global_params = flatten_params(model)
    _, acc0 = evaluate(model, global_params, digits.x_test, digits.y_test)
    for rnd in range(15):
        res = trainer.train(global_params.repeat(10, 1), parts, np.full(10, 5), np.full(10, 16),
                            client_seeds(0, rnd, np.arange(10)))
        sums, wsum = cluster_sums(res.params, weights, np.zeros(10, dtype=int), 1)
        global_params = (sums[0] / wsum[0]).float()
    loss, acc = trainer.evaluate(global_params, digits.x_test, digits.y_test)
    assert acc0 < 0.3 and acc > 0.85 and loss < 0.6


def test_trainer_to_same_device_is_identity(digits):
    trainer = BatchedTrainer(make_model("mlp", digits.input_shape, 10), digits.x_train, digits.y_train, lr=0.1)
    assert trainer.to("cpu") is trainer


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_trainer_matches_cpu(digits):
    idx = clients(len(digits.y_train), [40, 25, 60], seed=2)
    steps, batch, seeds = np.array([3, 2, 4]), np.array([8, 8, 16]), client_seeds(1, 0, np.arange(3))
    model = make_model("mlp", digits.input_shape, digits.num_classes)
    cpu = BatchedTrainer(model, digits.x_train, digits.y_train, lr=0.1, momentum=0.9)
    start = flatten_params(model).repeat(3, 1)
    want = cpu.train(start, idx, steps, batch, seeds).params
    got = cpu.to("cuda").train(start.cuda(), idx, steps, batch, seeds).params.cpu()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
