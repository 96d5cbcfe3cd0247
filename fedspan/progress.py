"""Progress of the long CLI commands: a live bar on a terminal, plain log lines when piped.

A round of a large constellation can take minutes to plan, so besides the finished rounds the
reporter says what it is working on (``working``) and, while nothing finishes, repeats that with
the elapsed time: on a terminal in the bar's status field (refreshed every second), in a log
line every ``heartbeat_s`` seconds otherwise. Piped, finished rounds are logged at most every
``log_every_s`` seconds (and the last one always).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from datetime import datetime
from typing import IO, Any

from rich.markup import escape


class ProgressReporter:
    """``with ProgressReporter(label, total) as p: p.working(...); p.advance(done, status)``."""

    def __init__(self, label: str, total: int, stream: IO[str] | None = None, heartbeat_s: float = 30.0,
                 live: bool | None = None, log_every_s: float = 5.0) -> None:
        self.label, self.total = label, int(total)
        self.stream = stream if stream is not None else sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.heartbeat_s = float(heartbeat_s)
        self.log_every_s = float(log_every_s)
        self._last_log = -math.inf
        self.done = 0
        self._doing = ""
        self._since = time.monotonic()
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "ProgressReporter":
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[status]}"), transient=False,
                                 console=Console(file=self.stream))
            self._bar.start()
            self._task = self._bar.add_task(escape(self.label), total=self.total, status="")
        else:
            self._log(f"{self.label}: started, {self.total} round(s)")
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the bar and the heartbeat (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def working(self, text: str) -> None:
        """What the command is busy with now (repeated with the elapsed time until the next update)."""
        with self._lock:
            self._doing, self._since = text, time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, status=escape(text))

    def advance(self, done: int, status: str = "") -> None:
        """``done`` of ``total`` rounds are complete; ``status`` describes the last one."""
        with self._lock:
            self.done, self._doing, self._since = int(done), "", time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, completed=done, status=escape(status))
        elif done >= self.total or time.monotonic() - self._last_log >= self.log_every_s:
            self._log(f"{self.label}: {done}/{self.total} done" + (f", {status}" if status else ""))

    def note(self, text: str) -> None:
        """A line of its own (e.g. a round's faults), above the live bar or among the log lines."""
        if self._bar is not None:
            self._bar.console.print(escape(f"{self.label.strip()}: {text}"))
        else:
            self._log(f"{self.label}: {text}")

    def _beat(self) -> None:
        period = 1.0 if self.live else self.heartbeat_s
        while not self._stop.wait(period):
            with self._lock:
                doing, since = self._doing, self._since
            if not doing:
                continue
            waited = time.monotonic() - since
            if self._bar is not None:
                self._bar.update(self._task, status=escape(f"{doing} ({waited:.0f} s)"))
            else:
                self._log(f"{self.label}: still {doing} ({waited:.0f} s)")

    def _log(self, line: str) -> None:
        self._last_log = time.monotonic()
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"[{stamp}] {line}", file=self.stream, flush=True)
