"""One writer per output folder: an advisory lock that a second run on the same folder is refused by.

The lock is ``flock`` on the output folder's own directory descriptor, not on a file in it: a
file can be deleted, or replaced by a symlink to something of the user's, while a run holds it,
and neither may let a second run in or make the lock write through the link. Opening the folder
with ``O_DIRECTORY`` follows nothing that is not a directory, and ``flock`` on a directory
writes nothing. The operating system releases the lock when the process ends in any way
(Ctrl-C, SIGTERM, SIGKILL, a crash), so a stale lock never blocks a later run.

Beside the lock, ``<folder>/.fedspan.lock`` says who holds it (pid and command), for the
message a refused run prints. It is only ever replaced by a rename (a symlink or hard link
there is replaced, never written through), it is read with a small size cap, and it is removed
again when the holder releases the lock. Inside one process the lock is re-entrant: the CLI can
hold it around a command while ``run_simulation`` takes it again for the same folder. Where
``fcntl`` does not exist (Windows) the lock is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import threading
from pathlib import Path
from typing import Iterator

from fedspan.errors import FedSpanError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".fedspan.lock"
#: The holder note is "<pid> <command>\n"; anything longer is not ours and is not read further.
_NOTE_MAX_BYTES = 256
_COMMAND = re.compile(r"fedspan(?: [a-z][a-z-]{0,30})?")

_HELD: dict[Path, tuple[int, int]] = {}  # folder -> (directory descriptor, re-entry count)
_GUARD = threading.Lock()


class FolderBusyError(FedSpanError):
    """Another process is writing into the same output folder."""


def _holder(folder: Path) -> str:
    """'fedspan run (pid 123)' from the holder's note; a generic text where the note is gone or not ours."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(folder / LOCK_NAME, flags)
    except OSError:
        return "fedspan command"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "fedspan command"
        text = os.read(fd, _NOTE_MAX_BYTES).decode("ascii", errors="replace").strip()
    except OSError:
        return "fedspan command"
    finally:
        os.close(fd)
    pid, _, command = text.partition(" ")
    command = command if _COMMAND.fullmatch(command) else "fedspan command"
    return f"{command} (pid {pid})" if pid.isdigit() and len(pid) < 12 else command


def _write_note(folder: Path, command: str) -> None:
    """Replace ``.fedspan.lock`` by a fresh note (new file + rename: a link there is replaced, not followed)."""
    note = folder / LOCK_NAME
    tmp = folder / f"{LOCK_NAME}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a leftover of a killed process with our pid; unlink removes a link, not its target
    fd = os.open(tmp, flags, 0o644)
    try:
        os.write(fd, f"{os.getpid()} {command}\n".encode("ascii", errors="replace"))
    finally:
        os.close(fd)
    os.replace(tmp, note)


@contextlib.contextmanager
def lock_output_folder(folder: str | Path, command: str = "fedspan run") -> Iterator[Path]:
    """Hold the folder's lock for the ``with`` block; raise :class:`FolderBusyError` if another process has it.

    Creates the folder. ``command`` (e.g. ``"fedspan plan"``) is what a refused second command is
    told holds the folder. The note file ``.fedspan.lock`` is removed when the block ends.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with lock_output_folder(tmp, "fedspan plan") as out:
    ...         note = (out / LOCK_NAME).read_text().split(" ", 1)[1].strip()
    ...     note, (out / LOCK_NAME).exists()
    ('fedspan plan', False)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    with _GUARD:
        if key in _HELD:
            fd, count = _HELD[key]
            _HELD[key] = (fd, count + 1)
        else:
            fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise FolderBusyError(f"{folder}: output folder in use by another {_holder(key)}; wait "
                                              f"for it to finish or choose another --out") from None
                _write_note(key, command)
            except BaseException:
                os.close(fd)
                raise
            _HELD[key] = (fd, 1)
    try:
        yield folder
    finally:
        with _GUARD:
            fd, count = _HELD[key]
            if count > 1:
                _HELD[key] = (fd, count - 1)
            else:
                del _HELD[key]
                try:  # still locked here, so the note removed is ours
                    (key / LOCK_NAME).unlink(missing_ok=True)
                except OSError:
                    pass  # a read-only folder keeps a stale note; the lock itself goes with the descriptor
                finally:
                    os.close(fd)  # closing the descriptor releases the flock
