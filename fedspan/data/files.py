"""Reading raw bytes of dataset files, transparently un-gzipping, with errors that name the file."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable

from fedspan.data.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

#: Returns the total size a decompressed file promises from its first bytes (None: cannot tell yet).
SizePromise = Callable[[bytes], "int | None"]


def _gzip_declared_size(raw: bytes) -> int:
    """ISIZE of the gzip trailer: the uncompressed size modulo 2**32 (of the last member)."""
    return int.from_bytes(raw[-4:], "little") if len(raw) >= 18 else 0


#: The most bytes a dataset file may hold (compressed or not, and once decompressed) unless its
#: loader states another limit: the largest file of the supported datasets, MNIST's training
#: images, is 47 MB; EuroSAT's arrays are 332 MB.
DATASET_MAX_BYTES = 256 << 20


def read_bytes(path: Path, promised_size: SizePromise | None = None, header_bytes: int = 0,
               max_bytes: int = DATASET_MAX_BYTES) -> bytes:
    """The file's content, decompressed when it starts with the gzip magic (whatever its suffix).

    The file is read through :func:`fedspan.fileio.read_capped` (at most ``max_bytes``; devices,
    FIFOs and other endless files refused). Decompression is capped twice, so a gzip bomb costs no
    more memory than an honest file: by ``max_bytes``, the caller's expectation of the dataset's
    size, whatever the file claims; and within that by the size the format's own header promises
    (``promised_size`` sees the first ``header_bytes`` decompressed bytes) when the caller knows the
    format, else by the size the gzip trailer declares (which, for a file of several gzip members,
    is the last member's size only). A promise above ``max_bytes`` is refused before inflating;
    output beyond the cap is a :class:`DataError` naming the file.
    """
    from fedspan.fileio import read_capped

    try:
        raw = read_capped(path, max_bytes)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return _gunzip_capped(path, raw, promised_size, header_bytes, max_bytes)
    except (OSError, EOFError, zlib.error):
        raise DataError(path, "corrupt or truncated gzip data") from None


def _gunzip_capped(path: Path, raw: bytes, promised_size: SizePromise | None, header_bytes: int,
                   max_bytes: int) -> bytes:
    """Inflate every gzip member of ``raw``, stopping as soon as the output passes the cap."""
    limit, source = _gzip_declared_size(raw), "its gzip trailer declares"
    out = bytearray()
    inflater = zlib.decompressobj(wbits=31)
    pending = raw
    if promised_size is not None and header_bytes > 0:
        out += inflater.decompress(pending, header_bytes)
        pending = inflater.unconsumed_tail
        promised = promised_size(bytes(out))
        if promised is not None:
            limit, source = promised, "its header promises"
    if limit > max_bytes:
        raise DataError(path, f"{source} {limit} bytes, more than the {max_bytes} byte "
                              f"limit for this dataset (refusing a possible gzip bomb)")
    while True:
        while not inflater.eof:
            room = limit + 1 - len(out)
            if room <= 0:
                raise DataError(path, f"decompresses to more than the {limit} bytes {source} "
                                      f"(refusing a possible gzip bomb)")
            chunk = inflater.decompress(pending, min(room, _CHUNK))
            pending = inflater.unconsumed_tail
            if not chunk and not pending and not inflater.eof:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            out += chunk
        rest = inflater.unused_data.lstrip(b"\x00")
        if not rest:
            break
        if not rest.startswith(_GZIP_MAGIC):
            raise OSError("trailing garbage after the gzip data")
        inflater, pending = zlib.decompressobj(wbits=31), rest  # a further gzip member
    if len(out) > limit:
        raise DataError(path, f"decompresses to more than the {limit} bytes {source} (refusing a possible gzip bomb)")
    return bytes(out)


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
