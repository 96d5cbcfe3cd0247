"""The one bounded file reader of Fed-Span: every file that comes from elsewhere is read through it.

It lives in the lowest layer so that every layer can use it (``orbits`` reads TLEs and ground
stations, ``fedspan`` configs, plans, fault schedules, checkpoints and datasets; ``fedspan.fileio``
re-exports it). Its failures are ``OSError`` (with ``strerror`` set), which every caller already
turns into its own one-line error naming the file.

Two things are refused before any byte is read: a file whose size is above the caller's cap
(checked on the open descriptor, so a symlink cannot swap the file between check and read), and
anything that is not a regular file: ``/dev/zero``, ``/dev/urandom``, FIFOs and sockets have no
size and no end, so no cap derived from a size could stop reading them. The cap is enforced
again while reading (files that grow, ``/proc`` files that report size 0), so the memory used is
at most ``max_bytes + 1`` bytes however the file misbehaves.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["read_capped"]

_CHUNK = 1 << 20


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``; ``OSError`` if it is larger than ``max_bytes`` or not a regular file.

    Symlinks are followed (a link to a real file is fine), but what they lead to must be a regular
    file. Opening does not block on a FIFO without a writer (``O_NONBLOCK``), so a FIFO is refused
    at once rather than hanging the command.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"12345"); f.flush()
    ...     read_capped(f.name, 5), len(read_capped(f.name, 10))
    (b'12345', 5)
    >>> read_capped("/dev/zero", 1 << 20)
    Traceback (most recent call last):
    OSError: [Errno 22] a device, not a regular file: refusing to read what has no end
    """
    if max_bytes < 0:
        raise ValueError(f"max_bytes = {max_bytes} must be >= 0")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"{_kind(info.st_mode)}, not a regular file: refusing to read what has no end")
        if info.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"file is {info.st_size} bytes, more than the {max_bytes} byte limit")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # a file that grew after fstat, or a /proc file without a size
                raise OSError(errno.EFBIG, f"file is more than the {max_bytes} byte limit")
        return b"".join(chunks)
    finally:
        os.close(fd)
