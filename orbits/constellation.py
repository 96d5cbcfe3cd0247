"""A constellation: validated TLEs, their SGP4 models, plane structure and propagation."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sgp4.api import SGP4_ERRORS, Satrec, SatrecArray

from orbits.errors import OrbitsError, OrbitsWarning
from orbits.planes import PlaneLayout, PlaneTolerance, exact_planes, grid_pairs, infer_planes, mean_elements_at
from orbits.propagation import Propagation, propagate, propagate_chunks
from orbits.timebase import as_utc, utc_julian
from orbits.tle import TLE, read_tle
from orbits.walker import DEFAULT_EPOCH, preset, walker_delta

__all__ = ["Constellation", "DroppedSatellite"]


@dataclass(frozen=True)
class DroppedSatellite:
    """A satellite excluded at load time, with the reason (SGP4 error message)."""

    name: str
    norad_id: int
    reason: str


def _sgp4_reason(code: int) -> str:
    """Readable SGP4 error message for an error code."""
    return f"SGP4 error {code}: {SGP4_ERRORS.get(int(code), 'unknown error')}"


class Constellation:
    """N satellites in file order (after dropping those SGP4 cannot propagate at the epoch)."""

    def __init__(
        self,
        tles: Sequence[TLE],
        source: str = "<tles>",
        plane_ids: ArrayLike | None = None,
        plane_tolerance: PlaneTolerance | None = None,
    ) -> None:
        """Build from TLEs; `plane_ids` (one per TLE) skips plane inference when planes are known."""
        if len(tles) == 0:
            raise OrbitsError(f"{source}: no satellites to build a constellation from")
        self.source = source
        satrecs = [Satrec.twoline2rv(t.line1, t.line2) for t in tles]
        # The latest element-set epoch is the common reference: every TLE is then propagated forward.
        self.epoch: datetime = max(t.epoch for t in tles)
        whole, fraction = utc_julian(self.epoch, np.zeros(1))
        errors = SatrecArray(satrecs).sgp4(whole, fraction)[0][:, 0]
        errors = np.where([s.error != 0 for s in satrecs], [s.error for s in satrecs], errors)
        keep = np.flatnonzero(errors == 0)
        self.dropped = [
            DroppedSatellite(tles[i].label, tles[i].norad_id, _sgp4_reason(errors[i])) for i in np.flatnonzero(errors)
        ]
        if len(keep) == 0:
            raise OrbitsError(f"{source}: SGP4 fails for all {len(tles)} satellites at {self.epoch.isoformat()}")
        if self.dropped:
            first = self.dropped[0]
            warnings.warn(
                f"{source}: dropped {len(self.dropped)} satellite(s) SGP4 cannot propagate at "
                f"{self.epoch.isoformat()} (e.g. {first.name}: {first.reason})",
                OrbitsWarning,
                stacklevel=2,
            )
        self.tles: list[TLE] = [tles[i] for i in keep]
        self._satrecs = [satrecs[i] for i in keep]
        self.satrecs = SatrecArray(self._satrecs)
        self.names: list[str] = [t.label for t in self.tles]
        self.norad_ids: NDArray[np.int64] = np.array([t.norad_id for t in self.tles], dtype=np.int64)
        elements = mean_elements_at(self._satrecs, float(whole[0] + fraction[0]))
        if plane_ids is not None:
            planes = np.asarray(plane_ids, dtype=np.int64)
            if planes.shape != (len(tles),):
                raise OrbitsError(f"{source}: plane_ids has shape {planes.shape}, expected ({len(tles)},)")
            self.layout: PlaneLayout = exact_planes(planes[keep], elements)
        else:
            self.layout = infer_planes(elements, plane_tolerance)

    @classmethod
    def from_file(cls, path: str | Path, strict: bool = True, plane_tolerance: PlaneTolerance | None = None):
        """Load a 2-line or 3-line TLE file (see `read_tle` for `strict`)."""
        return cls(read_tle(path, strict=strict), source=str(path), plane_tolerance=plane_tolerance)

    @classmethod
    def from_tles(cls, tles: Sequence[TLE], source: str = "<tles>") -> Constellation:
        """Build from TLE objects, inferring planes."""
        return cls(tles, source=source)

    @classmethod
    def from_preset(cls, name: str, epoch: datetime | None = None) -> Constellation:
        """A Walker-delta preset (see `orbits.walker.WALKER_PRESETS`) with its exact planes."""
        spec = preset(name)
        epoch = DEFAULT_EPOCH if epoch is None else as_utc(epoch)
        tles = walker_delta(spec, epoch, name_prefix=name.upper())
        return cls(tles, source=f"preset {name}", plane_ids=np.arange(spec.total) // spec.per_plane)

    def __len__(self) -> int:
        return len(self.tles)

    def __repr__(self) -> str:
        return f"Constellation({self.source!r}, {len(self)} satellites, {self.layout.num_planes} planes)"

    @property
    def plane_ids(self) -> NDArray[np.int64]:
        """Plane of each satellite (N,)."""
        return self.layout.plane_ids

    @property
    def index_in_plane(self) -> NDArray[np.int64]:
        """Position of each satellite in its plane by argument of latitude (N,)."""
        return self.layout.index_in_plane

    @functools.cached_property
    def grid_edges(self) -> NDArray[np.int64]:
        """+Grid candidate pairs (E, 2), i < j, sorted: degree <= 4 by construction."""
        return grid_pairs(self.layout)

    def propagate(self, start: datetime | None = None, offsets_s: ArrayLike = (0.0,)) -> Propagation:
        """Positions/velocities (T, N, 3) in TEME at start + offsets_s (start defaults to `epoch`)."""
        return propagate(self.satrecs, self.epoch if start is None else start, offsets_s)

    def propagate_chunks(self, start: datetime | None = None, offsets_s: ArrayLike = (0.0,), chunk_states: int = 0):
        """Like `propagate` but yields time chunks of at most ~chunk_states satellite-states."""
        kwargs = {"chunk_states": chunk_states} if chunk_states > 0 else {}
        return propagate_chunks(self.satrecs, self.epoch if start is None else start, offsets_s, **kwargs)
