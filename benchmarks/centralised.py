"""The suite's accuracy yardstick: the same model trained centrally on all the scenario's training data.

Each scenario's target accuracy is a fraction (90 %) of this centralised accuracy, measured by the suite
itself in the same run: plain mini-batch SGD with the federated runs' learning rate and batch over the
pooled training samples (the same ``max_train`` subset and seed), for a fixed number of epochs, then
the test accuracy of the final model on the same test subset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Epochs of centralised SGD: enough for the suite's MLP/CNN accuracy to settle on these data sizes.
EPOCHS = 10


@dataclass(frozen=True)
class CentralJob:
    """One centralised training run: a dataset subset and a model, as the scenarios that share them use."""

    dataset: str
    model: str
    max_train: int | None
    max_test: int | None
    data_root: str | None
    lr: float = 0.05
    model_width: int | None = None
    batch_size: int = 32
    epochs: int = EPOCHS
    seed: int = 0

    @property
    def key(self) -> str:
        """The lookup key scenarios use: dataset, model and training subset."""
        return central_key(self.dataset, self.model, self.max_train, self.max_test, self.lr, self.model_width)

    def describe(self) -> str:
        """Short label for progress lines."""
        return f"centralised: {self.key}"


def central_key(dataset: str, model: str, max_train: int | None, max_test: int | None, lr: float,
                width: int | None = None) -> str:
    """``dataset/model[-wWIDTH]/train/test/lr`` (``all`` for no cap)."""
    name = model if width is None else f"{model}-w{width}"
    return f"{dataset}/{name}/{max_train or 'all'}/{max_test or 'all'}/lr{lr:g}"


def run_central(job: CentralJob) -> dict[str, Any]:
    """Train the model centrally and return its test accuracy (executed in a worker process)."""
    import torch
    import torch.nn.functional as F

    from fedspan.data import load_dataset
    from fedspan.models import flatten_params, make_model
    from fedspan.training import evaluate

    torch.set_num_threads(1)
    begin = time.perf_counter()
    data = load_dataset(job.dataset, root=job.data_root).subset(job.max_train, job.max_test, seed=job.seed)
    model = make_model(job.model, data.input_shape, data.num_classes, width=job.model_width, seed=job.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=job.lr)
    generator = torch.Generator().manual_seed(job.seed)
    curve = []
    for _ in range(job.epochs):
        order = torch.randperm(len(data.x_train), generator=generator)
        for start in range(0, len(order), job.batch_size):
            idx = order[start:start + job.batch_size]
            optimizer.zero_grad()
            F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            optimizer.step()
        curve.append(evaluate(model, flatten_params(model), data.x_test, data.y_test)[1])
    return {"tag": "central", "key": job.key, "accuracy": curve[-1], "curve": curve, "epochs": job.epochs,
            "wall_s": time.perf_counter() - begin}


def central_task(job: CentralJob) -> tuple:
    """A pool task (function, argument, relative cost) for one centralised run."""
    return (run_central, job, 2.0 * job.epochs)


def central_jobs(scenarios: Any, data_dir: Path) -> list[CentralJob]:
    """One centralised run per distinct (dataset, model, max_train, max_test, lr) among ``scenarios``."""
    seen: dict[str, CentralJob] = {}
    for s in scenarios:
        job = CentralJob(s.dataset, s.model, s.max_train, s.max_test, s.data_root(data_dir), lr=s.lr,
                         model_width=s.model_width)
        seen.setdefault(job.key, job)
    return list(seen.values())
