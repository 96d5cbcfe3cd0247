"""Gzip bombs: decompression stops at the size the file's header (or gzip trailer) promises."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from fedspan.data import DataError, read_idx
from fedspan.data.files import read_bytes

_HEADER = bytes([0, 0, 8, 3]) + (4).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2  # 4 images of 28x28


def _zeros_gz(prefix: bytes, size: int) -> bytes:
    """gzip of ``prefix`` + ``size`` zero bytes, compressed in pieces (cheap to build, ~1000:1)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(prefix)]
    block = bytes(1 << 20)
    for _ in range(size >> 20):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    return b"".join(parts)


def _peak_bytes(fn, *args) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="gzip bomb"):
            fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_idx_bomb_is_capped_by_the_idx_header(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_zeros_gz(_HEADER, 64 << 20))  # header promises 3 KB, the stream holds 64 MB
    assert path.stat().st_size < 200_000
    assert _peak_bytes(read_idx, path) < 8 << 20


def test_other_formats_are_capped_by_the_gzip_trailer(tmp_path: Path) -> None:
    data = bytearray(_zeros_gz(b"", 32 << 20))
    data[-4:] = (1000).to_bytes(4, "little")  # a trailer that lies about the size
    path = tmp_path / "sat.trn"
    path.write_bytes(bytes(data))
    assert _peak_bytes(read_bytes, path) < 8 << 20


def test_honest_gzip_files_still_read(tmp_path: Path) -> None:
    images = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_HEADER + images.tobytes()))
    assert np.array_equal(read_idx(path), images)
    path.write_bytes(gzip.compress(_HEADER + images.tobytes())[:-6])
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_idx(path)
