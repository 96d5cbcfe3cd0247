"""The bundled default: scikit-learn's real 8x8 handwritten digits (no download)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as _sk_load_digits

from fedspan.data.dataset import Dataset, build_dataset, split_train_test


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """The 1797 UCI digits as (1, 8, 8) images, split train/test with a seeded permutation."""
    bunch = _sk_load_digits()
    images = bunch.images.astype(np.float32)[:, None, :, :]  # pixel values 0..16
    labels = bunch.target.astype(np.int64)
    train, test = split_train_test(len(labels), test_fraction, seed, "sklearn digits")
    return build_dataset("digits", images[train], labels[train], images[test], labels[test],
                         num_classes=10, scale=16.0, source="sklearn digits")
