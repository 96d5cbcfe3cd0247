"""Local-training throughput: 1584 satellites trained batched (vmap) vs one satellite at a time.

Both paths run in the same process on the same data, seeds and mini-batches, so the ratio is
meaningful on any machine. Goal: batched >= 5x the per-satellite loop; a 1584-satellite round
(local training + per-tree reduce) in seconds on 2 cores.

It then times one round of the real-payload models (cnn-large, resnet) for the 66-satellite shell
on MNIST-shaped (1x28x28) and EuroSAT-shaped (3x64x64) inputs: seconds per round of local training,
to set against the round's communication of their 34.7 / 9.9 Mbit models.

    python benchmarks/bench_training.py            # 1584 satellites, MLP on digits, 5 steps x 16
    python benchmarks/bench_training.py --quick    # 198 satellites, for a smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from fedspan.aggregation import cluster_sums
from fedspan.data import load_dataset
from fedspan.models import MODEL_NAMES, flatten_params, load_flat, make_model, model_bits
from fedspan.training import BatchedTrainer, client_seeds, minibatch_positions


def per_satellite_loop(model_name, data, start, indices, steps, batch, seeds, lr) -> torch.Tensor:
    """The baseline: one nn.Module and one optimizer per satellite, trained in turn."""
    out = []
    net = make_model(model_name, data.input_shape, data.num_classes)
    for m in range(len(indices)):
        load_flat(net, start[m])
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        for step in range(int(steps[m])):
            pos, valid = minibatch_positions(seeds[m:m + 1], step, np.array([len(indices[m])]), batch[m:m + 1])
            idx = torch.from_numpy(indices[m][pos[0][valid[0]]])
            opt.zero_grad()
            F.cross_entropy(net(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
        out.append(flatten_params(net))
    return torch.stack(out)


def main() -> None:
    """Run the benchmark and print samples/s for both paths and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="198 satellites instead of 1584")
    ap.add_argument("--satellites", type=int, default=None)
    ap.add_argument("--model", default="mlp", choices=MODEL_NAMES)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--samples-per-satellite", type=int, default=64,
                    help="each satellite holds this many digits (drawn independently: 1438 do not go around)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="batched runs; the median is reported")
    ap.add_argument("--trees", type=int, default=72, help="trees for the reduce step (72 planes of shell 1)")
    ap.add_argument("--payload-satellites", type=int, default=None,
                    help="satellites for the real-payload rows (default 66; --quick: 6)")
    ap.add_argument("--payload-steps", type=int, default=None, help="local steps there (default 5; --quick: 1)")
    ap.add_argument("--payload-batch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.satellites or (198 if args.quick else 1584)

    data = load_dataset("digits")
    rng = np.random.default_rng(0)
    indices = [np.sort(rng.choice(len(data.y_train), args.samples_per_satellite, replace=False)) for _ in range(n)]
    steps, batch = np.full(n, args.steps), np.full(n, args.batch)
    seeds = client_seeds(0, 0, np.arange(n))
    model = make_model(args.model, data.input_shape, data.num_classes)
    start = flatten_params(model).repeat(n, 1)
    samples = int((steps * np.minimum(batch, args.samples_per_satellite)).sum())
    trainer = BatchedTrainer(model, data.x_train, data.y_train, lr=0.05)
    # Warm-up: the first calls pay for vmap setup and the allocator growing to full size.
    trainer.train(start, indices, steps, batch, seeds)
    per_satellite_loop(args.model, data, start[:8], indices[:8], steps[:8], batch[:8], seeds[:8], 0.05)

    timings = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        batched = trainer.train(start, indices, steps, batch, seeds)
        timings.append(time.perf_counter() - t0)
    t_batched = float(np.median(timings))
    tree_of = np.arange(n) * args.trees // n
    t1 = time.perf_counter()
    cluster_sums(batched.params, np.full(n, float(args.samples_per_satellite)), tree_of, args.trees)
    t_reduce = time.perf_counter() - t1

    t0 = time.perf_counter()
    looped = per_satellite_loop(args.model, data, start, indices, steps, batch, seeds, 0.05)
    t_loop = time.perf_counter() - t0
    max_diff = float((looped - batched.params).abs().max())

    print(f"{n} satellites, {args.model} ({start.shape[1]} params), {args.steps} steps x batch {args.batch}, "
          f"{args.threads} threads, torch {torch.__version__}")
    print(f"  per-satellite loop : {t_loop:8.3f} s  {samples / t_loop:12,.0f} samples/s")
    print(f"  batched (vmap)     : {t_batched:8.3f} s  {samples / t_batched:12,.0f} samples/s")
    print(f"  speed-up           : {t_loop / t_batched:8.1f} x   (goal >= 5x)")
    print(f"  one round (train + reduce over {args.trees} trees): {t_batched + t_reduce:.3f} s")
    print(f"  max |batched - loop| parameter difference: {max_diff:.2e}")
    payload_rows(args.payload_satellites or (6 if args.quick else 66),
                 args.payload_steps or (1 if args.quick else 5), args.payload_batch)


def payload_rows(n: int, steps: int, batch: int, samples_per_satellite: int = 64) -> None:
    """Seconds per round of local training for the real-payload models (synthetic images, 10 classes)."""
    print(f"real payloads: {n} satellites x {steps} steps x batch {batch}, synthetic inputs")
    for name in ("cnn-large", "resnet"):
        for shape in ((1, 28, 28), (3, 64, 64)):
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(n * samples_per_satellite, *shape, generator=gen)
            y = torch.randint(0, 10, (len(x),), generator=gen)
            model = make_model(name, shape, 10)
            trainer = BatchedTrainer(model, x, y, lr=0.05)
            indices = [np.arange(m * samples_per_satellite, (m + 1) * samples_per_satellite) for m in range(n)]
            work = (flatten_params(model).repeat(n, 1), indices, np.full(n, steps), np.full(n, batch),
                    client_seeds(0, 0, np.arange(n)))
            trainer.train(*work)  # warm-up
            t0 = time.perf_counter()
            trainer.train(*work)
            took = time.perf_counter() - t0
            print(f"  {name:9s} {'x'.join(map(str, shape)):8s} {model_bits(model) / 1e6:6.1f} Mbit  "
                  f"{'per-client' if trainer.per_client else 'vmap':10s} {took:7.2f} s/round  "
                  f"{n * steps * min(batch, samples_per_satellite) / took:8,.0f} samples/s")


if __name__ == "__main__":
    main()
