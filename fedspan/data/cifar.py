"""CIFAR-10 "python version" batches (pickled dicts), read with an unpickler that runs no code."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from fedspan.data.dataset import Dataset, build_dataset
from fedspan.data.errors import DataError
from fedspan.data.files import read_bytes

_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
_TEST_BATCH = "test_batch"
_PIXELS = 3 * 32 * 32
#: One batch of 10,000 images is 31 MB; twice that covers any honest variant.
CIFAR_BATCH_MAX_BYTES = 64 << 20

# A pickle can call any importable function; only what numpy needs to rebuild an array is allowed.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def parse_cifar_batch(data: bytes, source: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch dict -> (n, 3, 32, 32) uint8 images and (n,) int64 labels."""
    try:
        batch = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - unpickling corrupt bytes can raise almost anything
        raise DataError(source, f"not a readable CIFAR pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DataError(source, f"expected a pickled dict, got {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(source, f"batch dict lacks 'data'/'labels' (keys: {sorted(map(str, batch))})")
    pixels = batch["data"]
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != _PIXELS:
        shape = getattr(pixels, "shape", type(pixels).__name__)
        raise DataError(source, f"'data' must be a uint8 array of shape (n, {_PIXELS}), got {shape}")
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(source, "'labels' is not a list of integers") from None
    if labels.shape != (len(pixels),):
        raise DataError(source, f"{labels.size} labels for {len(pixels)} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(source, f"label outside 0..9 (min {labels.min()}, max {labels.max()})")
    return pixels.reshape(-1, 3, 32, 32), labels


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return parse_cifar_batch(read_bytes(path, max_bytes=CIFAR_BATCH_MAX_BYTES), path)


def load_cifar10(root: str | Path) -> Dataset:
    """A ``cifar-10-batches-py`` folder (or its parent) as (3, 32, 32) images."""
    root = Path(root)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise DataError(root, "not a directory (expected the cifar-10-batches-py folder)")
    train_paths = [root / n for n in _TRAIN_BATCHES if (root / n).is_file()]
    if not train_paths:
        raise DataError(root, f"no training batches ({', '.join(_TRAIN_BATCHES)}) found")
    parts = [_read(p) for p in train_paths]
    x_test, y_test = _read(root / _TEST_BATCH)
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return build_dataset("cifar10", x_train, y_train, x_test, y_test, num_classes=10, scale=255.0, source=str(root))
