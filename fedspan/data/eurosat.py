"""EuroSAT RGB: a folder of class subfolders of images, or an ``.npz`` with ``x``/``y`` arrays."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fedspan.data.dataset import Dataset, build_dataset, split_train_test
from fedspan.data.errors import DataError
from fedspan.fileio import load_npz

#: The arrays of a EuroSAT .npz together (27,000 images of 64x64x3 bytes are 332 MB).
EUROSAT_MAX_BYTES = 512 << 20
#: Largest label + 1 accepted from a user's .npz (EuroSAT has 10 classes).
MAX_CLASSES = 1000
#: Largest image accepted in a EuroSAT folder, pixels (EuroSAT's are 64 x 64).
MAX_IMAGE_PIXELS = 4096 * 4096

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def _to_nchw(x: np.ndarray, source: Path, key: str) -> np.ndarray:
    if x.ndim != 4:
        raise DataError(source, f"'{key}' must be 4-D images (n, H, W, 3) or (n, 3, H, W), got shape {x.shape}")
    if x.shape[-1] == 3 and x.shape[1] != 3:
        x = x.transpose(0, 3, 1, 2)
    if x.shape[1] != 3:
        raise DataError(source, f"'{key}' must have 3 colour channels, got shape {x.shape}")
    if x.dtype != np.uint8:
        raise DataError(source, f"'{key}' must be uint8 pixels, got {x.dtype}")
    return np.ascontiguousarray(x)


def _labels(y: np.ndarray, source: Path, key: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(source, f"'{key}' must be a 1-D integer array, got {y.dtype} {y.shape}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= MAX_CLASSES):  # the model's output layer has one unit per class
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise DataError(source, f"'{key}' holds label {bad}; labels must lie in 0..{MAX_CLASSES - 1}")
    return y.astype(np.int64)


def load_eurosat_npz(path: Path, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """An ``.npz`` with ``x`` (n, 64, 64, 3) uint8 and ``y``; optional ``x_test``/``y_test``."""
    try:  # capped: the archive's own size claims decide nothing (see fedspan.fileio.load_npz)
        arrays = load_npz(path, EUROSAT_MAX_BYTES)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DataError(path, str(exc)) from None
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(path, f"missing array '{key}' (has {sorted(arrays)})")
    x, y = _to_nchw(arrays["x"], path, "x"), _labels(arrays["y"], path, "y")
    if len(x) != len(y):
        raise DataError(path, f"'x' holds {len(x)} images but 'y' {len(y)} labels")
    if "x_test" in arrays and "y_test" in arrays:
        x_test, y_test = _to_nchw(arrays["x_test"], path, "x_test"), _labels(arrays["y_test"], path, "y_test")
        x_train, y_train = x, y
    else:
        train, test = split_train_test(len(y), test_fraction, seed, str(path))
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return build_dataset("eurosat", x_train, y_train, x_test, y_test, num_classes=num_classes,
                         scale=255.0, source=str(path))


def _read_image(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    try:
        with Image.open(path) as image:  # reads the header only: the size is known before any pixel
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise DataError(path, f"image is {image.width}x{image.height} pixels, more than the "
                                      f"{MAX_IMAGE_PIXELS} pixel limit (EuroSAT images are 64x64)")
            rgb = image.convert("RGB")
            if size is not None and rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
    except Image.DecompressionBombError:  # PIL's own limit, hit in open() before ours for the largest claims
        raise DataError(path, f"image has more than the {MAX_IMAGE_PIXELS} pixel limit (EuroSAT images are "
                              f"64x64)") from None
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(path, "not a readable image (unknown format)") from None
    except (OSError, ValueError, SyntaxError, struct.error, zlib.error, EOFError):
        raise DataError(path, "not a readable image (damaged or truncated)") from None


def load_eurosat_folder(root: Path, test_fraction: float = 0.2, seed: int = 0,
                        image_size: tuple[int, int] | None = None) -> Dataset:
    """A folder whose subfolders (sorted names = classes) hold RGB images of one size."""
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(root, "no class subfolders found")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, folder in enumerate(classes):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise DataError(folder, "class folder holds no images")
        for path in files:
            pixels = _read_image(path, image_size)
            if images and pixels.shape != images[0].shape:
                raise DataError(path, f"image is {pixels.shape[1]}x{pixels.shape[0]} but earlier ones are "
                                      f"{images[0].shape[1]}x{images[0].shape[0]} (pass image_size=)")
            images.append(pixels)
            labels.append(label)
    x = np.stack(images).transpose(0, 3, 1, 2)
    y = np.asarray(labels, dtype=np.int64)
    train, test = split_train_test(len(y), test_fraction, seed, str(root))
    return build_dataset("eurosat", x[train], y[train], x[test], y[test], num_classes=len(classes),
                         scale=255.0, source=str(root))


def load_eurosat(path: str | Path, test_fraction: float = 0.2, seed: int = 0,
                 image_size: tuple[int, int] | None = None) -> Dataset:
    """EuroSAT from an ``.npz`` file or an image folder (``2750/`` or ``EuroSAT/`` layout)."""
    path = Path(path)
    if path.is_file():
        return load_eurosat_npz(path, test_fraction, seed)
    if path.is_dir():
        return load_eurosat_folder(path, test_fraction, seed, image_size)
    raise DataError(path, "not found (expected an .npz file or a folder of class subfolders)")
