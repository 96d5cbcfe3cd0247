"""One writer per output folder: an advisory lock that a second run on the same folder is refused by.

The lock is ``flock`` on ``<folder>/.fedspan.lock``. The operating system releases it when the
process ends in any way (Ctrl-C, SIGTERM, SIGKILL, a crash), so a stale lock never blocks a
later run. Inside one process the lock is re-entrant: the CLI can hold it around a command while
``run_simulation`` takes it again for the same folder. Where ``fcntl`` does not exist (Windows)
the lock is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO, Iterator

from fedspan.errors import FedSpanError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".fedspan.lock"

_HELD: dict[Path, tuple[IO[str], int]] = {}
_GUARD = threading.Lock()


class FolderBusyError(FedSpanError):
    """Another process is writing into the same output folder."""


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    text = handle.read().strip()
    return f" (pid {text})" if text.isdigit() else ""


@contextlib.contextmanager
def lock_output_folder(folder: str | Path, command: str = "fedspan") -> Iterator[Path]:
    """Hold the folder's lock for the ``with`` block; raise :class:`FolderBusyError` if another process has it.

    Creates the folder. The lock file records the holder's pid, for the error message.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    with _GUARD:
        if key in _HELD:
            handle, count = _HELD[key]
            _HELD[key] = (handle, count + 1)
        else:
            handle = open(key / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held across the block
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    who = _holder(handle)
                    handle.close()
                    raise FolderBusyError(f"{folder}: output folder in use by another {command}{who}; wait for "
                                          f"it to finish or choose another --out") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            _HELD[key] = (handle, 1)
    try:
        yield folder
    finally:
        with _GUARD:
            handle, count = _HELD[key]
            if count > 1:
                _HELD[key] = (handle, count - 1)
            else:
                del _HELD[key]
                handle.close()  # closing the descriptor releases the flock
