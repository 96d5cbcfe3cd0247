"""UCI Statlog (Landsat Satellite) ``sat.trn`` / ``sat.tst``: 36 band values + a class per row."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedspan.data.dataset import Dataset, build_dataset
from fedspan.data.errors import DataError
from fedspan.data.files import find_file, read_bytes

# Class 6 ("mixture") was removed from the published data, so the six labels are not contiguous.
STATLOG_CLASSES = (1, 2, 3, 4, 5, 7)
_FEATURES = 36


def parse_statlog(text: str, source: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 36 integer band values (0..255) and a class label, as (n, 36) uint8 and (n,) int64."""
    label_index = {c: i for i, c in enumerate(STATLOG_CLASSES)}
    rows: list[list[int]] = []
    labels: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != _FEATURES + 1:
            raise DataError(source, f"expected {_FEATURES + 1} values, found {len(fields)}", line=number)
        try:
            values = [int(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not f.lstrip("-").isdigit())
            raise DataError(source, f"value {bad!r} is not an integer", line=number) from None
        if not all(0 <= v <= 255 for v in values[:-1]):
            raise DataError(source, "band values must lie in 0..255", line=number)
        if values[-1] not in label_index:
            raise DataError(source, f"class {values[-1]} is not one of {STATLOG_CLASSES}", line=number)
        rows.append(values[:-1])
        labels.append(label_index[values[-1]])
    if not rows:
        raise DataError(source, "no data rows")
    return np.asarray(rows, dtype=np.uint8), np.asarray(labels, dtype=np.int64)


#: sat.trn is 525 KB; 30x that is room for any variant of the file and far from a gzip bomb's size.
STATLOG_MAX_BYTES = 16 << 20


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        text = read_bytes(path, max_bytes=STATLOG_MAX_BYTES).decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not ASCII text (byte {exc.start})") from None
    return parse_statlog(text, path)


def load_statlog(root: str | Path) -> Dataset:
    """The Statlog Landsat folder as (36,) feature vectors with 6 classes."""
    root = Path(root)
    x_train, y_train = _read(find_file(root, ["sat.trn"], "Statlog training"))
    x_test, y_test = _read(find_file(root, ["sat.tst"], "Statlog test"))
    return build_dataset("satimage", x_train, y_train, x_test, y_test,
                         num_classes=len(STATLOG_CLASSES), scale=255.0, source=str(root))
