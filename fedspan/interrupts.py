"""Ctrl-C and SIGTERM for the CLI: both stop a command like an interrupt, with the shell's exit codes.

SIGINT raises ``KeyboardInterrupt`` (exit code 130); :func:`handle_sigterm` makes SIGTERM raise
:class:`Terminated` (exit code 143) instead of killing the process outright, so ``finally``
blocks still write the metrics and release the output folder's lock. SIGKILL cannot be caught:
what it keeps is what was already on disk (every completed round's checkpoint and metrics line).
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so that the same clean-up runs."""


class Stopped(Exception):  # noqa: N818 - it is what the user did, not a bug
    """An interrupt that no phase of a command reported; carries it past click/typer, which would turn it
    into a silent ``Exit(130)`` (SIGTERM included) before the CLI could print its line."""

    def __init__(self, interrupt: BaseException) -> None:
        super().__init__(what(interrupt))
        self.interrupt = interrupt


def exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (128 + the signal number)."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def what(exc: BaseException) -> str:
    """'terminated' or 'interrupted', for the one-line message."""
    return "terminated" if isinstance(exc, Terminated) else "interrupted"


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def handle_sigterm() -> Any:
    """Turn SIGTERM into :class:`Terminated` (main thread only); returns the previous handler."""
    if threading.current_thread() is threading.main_thread():
        return signal.signal(signal.SIGTERM, _raise_terminated)
    return None


def restore_sigterm(previous: Any) -> None:
    """Put back the handler :func:`handle_sigterm` replaced (None: nothing was replaced)."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
