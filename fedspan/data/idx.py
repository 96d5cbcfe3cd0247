"""MNIST / Fashion-MNIST in LeCun's IDX format (gzip or raw)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedspan.data.dataset import Dataset, build_dataset
from fedspan.data.errors import DataError
from fedspan.data.files import find_file, read_bytes

# IDX type codes -> big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, source: str | Path) -> np.ndarray:
    """Decode one IDX blob into an array, checking magic, type code and exact length."""
    if len(data) < 4:
        raise DataError(source, f"{len(data)} bytes is too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataError(source, f"bad IDX magic {data[:4].hex()} (must start with 0000)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise DataError(source, f"unknown IDX type code 0x{type_code:02x}")
    if ndim == 0:
        raise DataError(source, "IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(source, f"truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = header + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(source, f"IDX shape {shape} needs {expected} bytes, file has {len(data)} "
                                f"({'truncated' if len(data) < expected else 'trailing bytes'})")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def idx_promised_size(head: bytes) -> int | None:
    """Total bytes an IDX file's header promises (header + data), or None if ``head`` cannot tell."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
        return None
    header = 4 + 4 * head[3]
    if len(head) < header:
        return None
    shape = np.frombuffer(head, dtype=">u4", count=head[3], offset=4)
    return header + int(np.prod(shape.astype(object), dtype=object)) * np.dtype(_IDX_DTYPES[head[2]]).itemsize


def read_idx(path: Path) -> np.ndarray:
    """Read and decode one IDX file (``.gz`` or raw; gzip output is capped by the IDX header's size)."""
    return parse_idx(read_bytes(path, idx_promised_size, header_bytes=4 + 4 * 255), path)


def _split(root: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = find_file(root, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"], f"{prefix} images")
    labels_path = find_file(root, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"], f"{prefix} labels")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(images_path, f"expected uint8 images of shape (n, rows, cols), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(labels_path, f"expected uint8 labels of shape (n,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(labels_path, f"{len(labels)} labels but {images_path.name} holds {len(images)} images")
    if len(labels) and labels.max() > 9:
        raise DataError(labels_path, f"label {int(labels.max())} outside 0..9")
    return images[:, None, :, :], labels.astype(np.int64)


def load_idx_dataset(root: str | Path, name: str = "mnist") -> Dataset:
    """MNIST-layout folder (``train-``/``t10k-`` images and labels) as (1, 28, 28) images."""
    root = Path(root)
    x_train, y_train = _split(root, "train")
    x_test, y_test = _split(root, "t10k")
    return build_dataset(name, x_train, y_train, x_test, y_test, num_classes=10, scale=255.0, source=str(root))
