"""``load_dataset``: one entry point from a dataset name or a path to the right loader."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from fedspan.data.cifar import load_cifar10
from fedspan.data.dataset import Dataset
from fedspan.data.digits import load_digits
from fedspan.data.errors import DataError
from fedspan.data.eurosat import load_eurosat
from fedspan.data.idx import load_idx_dataset
from fedspan.data.statlog import load_statlog

def _load_mnist(root: Path) -> Dataset:
    return load_idx_dataset(root, name="mnist")


def _load_fashion_mnist(root: Path) -> Dataset:
    return load_idx_dataset(root, name="fashion-mnist")


_FILE_LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist": _load_mnist,
    "fashion-mnist": _load_fashion_mnist,
    "satimage": load_statlog,
    "eurosat": load_eurosat,
    "cifar10": load_cifar10,
}
DATASET_NAMES = ("digits", *_FILE_LOADERS)


def detect_format(path: Path) -> str:
    """Guess the dataset name of a user-supplied file or folder from the files it holds."""
    if path.is_file():
        if path.suffix == ".npz":
            return "eurosat"
        raise DataError(path, "cannot tell the dataset format of this file (expected an .npz)")
    if not path.is_dir():
        raise DataError(path, "no such file or directory")
    names = {p.name for p in path.iterdir()}
    if "sat.trn" in names:
        return "satimage"
    if names & {"data_batch_1", "cifar-10-batches-py"}:
        return "cifar10"
    if any(n.startswith("train-images") for n in names):
        return "fashion-mnist" if "fashion" in path.name.lower() else "mnist"
    if any((path / n).is_dir() for n in names):
        return "eurosat"
    raise DataError(path, "cannot tell the dataset format (no sat.trn, data_batch_1, train-images-* or class folders)")


def load_dataset(name_or_path: str = "digits", root: str | Path | None = None, **kw: Any) -> Dataset:
    """Load a dataset by name (``digits`` needs nothing; the others need ``root``) or by path.

    ``name_or_path`` is one of ``DATASET_NAMES`` or a path whose format is detected. Extra
    keywords go to the loader (e.g. ``test_fraction``/``seed`` for digits and EuroSAT).
    """
    key = name_or_path.lower()
    if key == "digits":
        return _call(load_digits, key, **kw)
    if key in _FILE_LOADERS:
        if root is None:
            raise DataError(None, f"dataset '{name_or_path}' is read from files: pass root=<folder or file>")
        return _call(_FILE_LOADERS[key], key, Path(root), **kw)
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(path, f"unknown dataset name and no such path (names: {', '.join(DATASET_NAMES)})")
    return _call(_FILE_LOADERS[detect_format(path)], detect_format(path), path, **kw)


def _call(loader: Callable[..., Dataset], name: str, *args: Any, **kw: Any) -> Dataset:
    """Call ``loader``, turning options it does not take into a DataError that lists the valid ones."""
    signature = inspect.signature(loader)
    try:
        signature.bind(*args, **kw)
    except TypeError:
        valid = [p for p in list(signature.parameters)[len(args):]]
        raise DataError(None, f"dataset '{name}' does not take option(s) {', '.join(sorted(kw))} "
                              f"(it takes: {', '.join(valid) or 'none'})") from None
    return loader(*args, **kw)
