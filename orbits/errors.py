"""Exception and warning types of the orbits layer."""

from __future__ import annotations

from pathlib import Path


class OrbitsError(ValueError):
    """Base class for every error the orbits layer raises on bad input."""


class SourceError(OrbitsError):
    """Bad content in an input file or string: names the source, the 1-based line and the problem."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # so the error crosses process boundaries (worker pools)
        return (type(self), (self.path, self.line, self.reason))


class TLEError(SourceError):
    """A TLE file or string is malformed."""


class GroundStationError(SourceError):
    """A ground-station file or value is malformed."""


class OrbitsWarning(UserWarning):
    """Something was skipped or degraded (bad TLEs with strict=False, SGP4 failures, slow sgp4)."""
