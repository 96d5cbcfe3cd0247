"""Dataset loaders on small files the tests write in the real formats, plus the real shared copies."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fedspan.data import (DataError, detect_format, load_dataset, load_digits, parse_idx, parse_statlog,
                          read_idx)
from fedspan.data.statlog import STATLOG_CLASSES


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in LeCun's IDX layout."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, n_train: int = 20, n_test: int = 8, gz: bool = True, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return arrays


def statlog_text(rows: int, seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (rows, 36))
    y = rng.choice(STATLOG_CLASSES, rows)
    lines = [" ".join(map(str, [*xr, yr])) for xr, yr in zip(x, y)]
    return "\n".join(lines) + "\n", x, y


def write_cifar(root: Path, per_batch: int = 6, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for name in ["data_batch_1", "data_batch_2", "test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, per_batch)], b"batch_label": b"x"}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_digits_default_is_real_split():
    d = load_dataset()
    assert d.name == "digits" and d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert len(d.y_train) + len(d.y_test) == 1797
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-3
    again = load_digits()
    assert torch.equal(again.x_test, d.x_test)  # same seed, same split


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_roundtrip(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    d = load_dataset("mnist", root=tmp_path)
    assert d.x_train.shape == (20, 1, 28, 28) and d.x_test.shape == (8, 1, 28, 28)
    assert d.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    raw = arrays["train-images-idx3-ubyte"].astype(np.float32) / 255
    restored = d.x_train[:, 0].numpy()
    # Standardisation is affine: correlation with the raw pixels is exactly 1.
    assert np.corrcoef(raw.ravel(), restored.ravel())[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert detect_format(tmp_path) == "mnist"


def test_idx_header_errors_name_the_problem(tmp_path):
    good = idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))
    with pytest.raises(DataError, match="magic"):
        parse_idx(b"\x01" + good[1:], "f")
    with pytest.raises(DataError, match="truncated"):
        parse_idx(good[:-1], "f")
    with pytest.raises(DataError, match="trailing"):
        parse_idx(good + b"\x00", "f")
    with pytest.raises(DataError, match="type code"):
        parse_idx(good[:2] + b"\x07" + good[3:], "f")
    bad = tmp_path / "x-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(DataError, match=str(bad.name)):
        read_idx(bad)


def test_mnist_label_count_mismatch_names_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8))))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*5 labels"):
        load_dataset("mnist", root=tmp_path)


def test_statlog_parse_and_errors(tmp_path):
    text, x, y = statlog_text(12)
    xs, ys = parse_statlog(text, "sat.trn")
    assert np.array_equal(xs, x) and [STATLOG_CLASSES[i] for i in ys] == y.tolist()
    (tmp_path / "sat.trn").write_text(text)
    (tmp_path / "sat.tst").write_text(statlog_text(5, seed=1)[0])
    d = load_dataset(str(tmp_path))
    assert d.name == "satimage" and d.input_shape == (36,) and d.num_classes == 6
    lines = text.splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0] + " 6"  # class 6 does not exist in Statlog
    with pytest.raises(DataError, match=r"sat.trn:4: class 6"):
        parse_statlog("\n".join(lines), "sat.trn")
    with pytest.raises(DataError, match=r":2: expected 37 values, found 3"):
        parse_statlog(lines[0] + "\n1 2 3\n", "sat.trn")
    with pytest.raises(DataError, match="'abc' is not an integer"):
        parse_statlog(" ".join(["abc"] + ["1"] * 36), "sat.trn")


def test_cifar_batches_and_refusal_of_code(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    d = load_dataset("cifar10", root=tmp_path)
    assert d.x_train.shape == (12, 3, 32, 32) and d.x_test.shape == (6, 3, 32, 32)
    evil = tmp_path / "evil"
    evil.mkdir()

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    (evil / "data_batch_1").write_bytes(pickle.dumps({b"data": Boom()}))
    (evil / "test_batch").write_bytes(b"")
    with pytest.raises(DataError, match="refusing to load global builtins.print"):
        load_dataset(str(evil))


def test_eurosat_folder_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "EuroSAT"
    for cls in ["Forest", "River", "SeaLake"]:
        (folder / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / cls / f"{cls}_{i}.jpg")
    d = load_dataset("eurosat", root=folder)
    assert d.num_classes == 3 and d.input_shape == (3, 16, 16) and len(d.y_train) + len(d.y_test) == 15
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(folder / "River" / "small.png")
    with pytest.raises(DataError, match="small.png: image is 8x8"):
        load_dataset("eurosat", root=folder)
    assert load_dataset("eurosat", root=folder, image_size=(16, 16)).input_shape == (3, 16, 16)
    npz = tmp_path / "eurosat.npz"
    np.savez(npz, x=rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8), y=np.arange(20) % 10)
    d = load_dataset(str(npz))
    assert d.input_shape == (3, 64, 64) and d.num_classes == 10 and len(d.y_test) == 4
    np.savez(npz, x=np.zeros((4, 64, 64), dtype=np.uint8), y=np.zeros(4, dtype=np.int64))
    with pytest.raises(DataError, match="'x' must be 4-D"):
        load_dataset("eurosat", root=npz)


def test_unknown_names_and_missing_roots():
    with pytest.raises(DataError, match="pass root="):
        load_dataset("mnist")
    with pytest.raises(DataError, match="unknown dataset name"):
        load_dataset("imagenet-22k")
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("satimage", root="/nonexistent/folder")


def test_subset_is_seeded():
    d = load_digits()
    a, b = d.subset(100, 50, seed=3), d.subset(100, 50, seed=3)
    assert len(a.y_train) == 100 and len(a.y_test) == 50 and torch.equal(a.x_train, b.x_train)


@pytest.mark.parametrize("name,counts", [
    ("mnist", [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    ("fashion-mnist", [6000] * 10),
])
def test_real_idx_datasets(shared_data, name, counts):
    d = load_dataset(name, root=shared_data / name)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(d.y_train).tolist() == counts
    assert torch.bincount(d.y_test).sum() == 10000


def test_real_statlog(shared_data):
    d = load_dataset("satimage", root=shared_data / "satimage")
    # README: train {1:1072, 2:479, 3:961, 4:415, 5:470, 7:1038}, test {1:461, 2:224, 3:397, 4:211, 5:237, 7:470}
    assert torch.bincount(d.y_train).tolist() == [1072, 479, 961, 415, 470, 1038]
    assert torch.bincount(d.y_test).tolist() == [461, 224, 397, 211, 237, 470]
    first = (shared_data / "satimage" / "sat.trn").read_text().split("\n", 1)[0].split()
    assert first[:4] == ["92", "115", "120", "94"]


def test_unknown_loader_options_are_data_errors(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(DataError, match="'mnist' does not take option\\(s\\) seed"):
        load_dataset("mnist", root=tmp_path, seed=1)
    with pytest.raises(DataError, match="it takes: test_fraction, seed"):
        load_dataset("digits", colour=True)
    assert len(load_dataset("digits", test_fraction=0.5).y_test) == round(1797 * 0.5)
