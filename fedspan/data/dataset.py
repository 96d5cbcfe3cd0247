"""The in-memory dataset every loader returns, and the shared normalisation of raw arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fedspan.data.errors import DataError


@dataclass
class Dataset:
    """A train/test split as float32 feature tensors and int64 label tensors."""

    name: str
    x_train: torch.Tensor  # (n_train, *input_shape) float32, standardised
    y_train: torch.Tensor  # (n_train,) int64 in [0, num_classes)
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]

    def subset(self, max_train: int | None = None, max_test: int | None = None, seed: int = 0) -> Dataset:
        """A random subset (same seed, same subset) for quick runs; None keeps everything."""
        rng = np.random.default_rng(seed)

        def pick(n: int, limit: int | None) -> torch.Tensor:
            if limit is None or limit >= n:
                return torch.arange(n)
            return torch.from_numpy(np.sort(rng.permutation(n)[:limit]))

        tr = pick(len(self.y_train), max_train)
        te = pick(len(self.y_test), max_test)
        return Dataset(self.name, self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te],
                       self.num_classes, self.input_shape)


def build_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    scale: float,
    source: str,
) -> Dataset:
    """Scale raw features by ``scale``, standardise with the train mean/std, and validate labels.

    One scalar mean/std (not per feature) so images keep their relative contrast and a
    constant feature cannot divide by zero.
    """
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise DataError(source, f"{split} split has {len(x)} samples but {len(y)} labels")
        if len(x) == 0:
            raise DataError(source, f"{split} split is empty")
        y = np.asarray(y)
        if y.min() < 0 or y.max() >= num_classes:
            raise DataError(source, f"{split} label {int(y.max()) if y.max() >= num_classes else int(y.min())} "
                                    f"outside [0, {num_classes})")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(source, f"train samples have shape {x_train.shape[1:]} but test samples {x_test.shape[1:]}")
    xtr = x_train.astype(np.float32) / np.float32(scale)
    xte = x_test.astype(np.float32) / np.float32(scale)
    mean = float(xtr.mean())
    std = float(xtr.std()) or 1.0
    return Dataset(
        name=name,
        x_train=torch.from_numpy((xtr - mean) / std),
        y_train=torch.from_numpy(np.asarray(y_train, dtype=np.int64)),
        x_test=torch.from_numpy((xte - mean) / std),
        y_test=torch.from_numpy(np.asarray(y_test, dtype=np.int64)),
        num_classes=num_classes,
        input_shape=tuple(int(s) for s in x_train.shape[1:]),
    )


def split_train_test(n: int, test_fraction: float, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random train/test split of ``n`` samples (for formats that ship one pool)."""
    if not 0.0 < test_fraction < 1.0:
        raise DataError(source, f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(n * test_fraction))
    if n_test == 0 or n_test == n:
        raise DataError(source, f"{n} samples are too few to split with test_fraction={test_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])
