"""Hardening: random, truncated and corrupted bytes make every loader raise DataError and nothing else."""

from __future__ import annotations

import gzip
import io
import pickle
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fedspan.data import DataError, load_dataset, parse_idx, parse_statlog, read_idx
from fedspan.data.cifar import parse_cifar_batch

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_VALID_IDX = bytes([0, 0, 8, 3]) + (4).to_bytes(4, "big") + (3).to_bytes(4, "big") * 2 + bytes(range(36))
_VALID_PICKLE = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, protocol=2)


def _npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((2, 4, 4, 3), np.uint8), y=np.array([0, 1]))
    return buf.getvalue()


_VALID_NPZ = _npz_bytes()


def corrupt(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """Truncate at ``cut`` and overwrite some bytes: the usual shapes of a damaged download."""
    out = bytearray(data[: cut % (len(data) + 1)])
    for pos, val in flips:
        if out:
            out[pos % len(out)] = val
    return bytes(out)


flips = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6)


def only_data_error(fn, *args) -> None:
    try:
        fn(*args)
    except DataError:
        pass


@FUZZ
@given(st.binary(max_size=200))
def test_idx_random_bytes(data):
    only_data_error(parse_idx, data, "fuzz")


@FUZZ
@given(st.integers(0, 200), flips, st.booleans())
def test_idx_corrupted_files(cut, changes, gz):
    data = corrupt(gzip.compress(_VALID_IDX) if gz else _VALID_IDX, cut, changes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train-images-idx3-ubyte.gz"
        path.write_bytes(data)
        only_data_error(read_idx, path)


@FUZZ
@given(st.integers(0, 10_000), flips)
def test_cifar_corrupted_pickles(cut, changes):
    only_data_error(parse_cifar_batch, corrupt(_VALID_PICKLE, cut, changes), "fuzz")


@FUZZ
@given(st.binary(max_size=300))
def test_cifar_random_bytes(data):
    only_data_error(parse_cifar_batch, data, "fuzz")


@FUZZ
@given(st.text(alphabet="0123456789 -\n\t.x", max_size=400))
def test_statlog_random_text(text):
    only_data_error(parse_statlog, text, "fuzz")


@FUZZ
@given(st.integers(0, 2_000), flips)
@example(cut=602, changes=[(535, 64)])  # "zip file version 6.4": NotImplementedError escaped the reader once
def test_npz_corrupted_archives(cut, changes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eurosat.npz"
        path.write_bytes(corrupt(_VALID_NPZ, cut, changes))
        only_data_error(load_dataset, str(path))


@FUZZ
@given(st.binary(max_size=300))
def test_statlog_files_of_random_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sat.trn").write_bytes(data)
        (Path(tmp) / "sat.tst").write_bytes(data)
        only_data_error(load_dataset, "satimage", tmp)
