"""The error every dataset loader raises on a missing, truncated or malformed file."""

from __future__ import annotations

from pathlib import Path

from fedspan.errors import FedSpanError


class DataError(FedSpanError):
    """A dataset file (or folder) is missing or malformed; the message names it and the problem."""

    def __init__(self, path: str | Path | None, reason: str, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        self.line = line
        where = self.path if self.path is not None else "<dataset>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # so the error crosses process boundaries (worker pools, torch.multiprocessing)
        return (type(self), (self.path, self.reason, self.line))
