"""Reading raw bytes of dataset files, transparently un-gzipping, with errors that name the file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from fedspan.data.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it starts with the gzip magic (whatever its suffix)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(path, f"corrupt or truncated gzip data ({exc})") from None


def find_file(root: Path, candidates: list[str], what: str) -> Path:
    """The first of ``candidates`` (with or without ``.gz``) that exists in ``root``."""
    if not root.is_dir():
        raise DataError(root, f"not a directory (expected the folder holding the {what})")
    for name in candidates:
        for suffix in ("", ".gz"):
            path = root / f"{name}{suffix}"
            if path.is_file():
                return path
    raise DataError(root, f"no {what} file found (looked for {', '.join(candidates)} [.gz])")
