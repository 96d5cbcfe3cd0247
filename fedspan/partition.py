"""Splitting a training set across satellites: IID, Dirichlet label skew, and a regional stream.

Every partition is a list with one sorted ``int64`` index array (into the training set) per
satellite. The stream takes plain sub-satellite points so this module needs no orbits code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fedspan.errors import FedSpanError


#: Most samples that may arrive on all satellites in one update of the regional stream (3 x 80 MB of indices).
MAX_ARRIVALS = 10_000_000


class PartitionError(FedSpanError):
    """Invalid partition parameters or inputs (counts, alpha, array shapes, time going backwards)."""


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise PartitionError(f"labels must be a 1-D integer array, got {labels.dtype} with shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise PartitionError(f"labels must be >= 0, got {labels.min()}")
    return labels.astype(np.int64)


def _check_clients(num_clients: int) -> None:
    if int(num_clients) != num_clients or num_clients < 1:
        raise PartitionError(f"num_clients must be a positive integer, got {num_clients!r}")


def group_by(owner: np.ndarray, items: np.ndarray, num_groups: int) -> list[np.ndarray]:
    """Split ``items`` into ``num_groups`` sorted arrays by their ``owner`` (one vectorised sort)."""
    order = np.lexsort((items, owner))
    bounds = np.searchsorted(owner[order], np.arange(1, num_groups))
    return [part.astype(np.int64) for part in np.split(items[order], bounds)]


def _check_weights(weights: np.ndarray | None, num_clients: int) -> np.ndarray | None:
    """Relative data sizes per client (a fleet's ``data_scale``): finite, >= 0, not all 0; None: equal shares."""
    if weights is None:
        return None
    w = np.asarray(weights, float)
    if w.shape != (num_clients,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise PartitionError(f"data weights must be {num_clients} finite numbers >= 0, not all 0")
    return w / w.sum()


def iid(labels: np.ndarray, num_clients: int, rng: np.random.Generator,
        weights: np.ndarray | None = None) -> list[np.ndarray]:
    """A uniformly random split into ``num_clients`` parts whose sizes differ by at most one.

    ``weights`` (relative data sizes, e.g. a fleet's ``data_scale``) make the sizes proportional instead.
    """
    labels = _check_labels(labels)
    _check_clients(num_clients)
    share = _check_weights(weights, num_clients)
    perm = rng.permutation(len(labels))
    if share is None:
        return [np.sort(part).astype(np.int64) for part in np.array_split(perm, num_clients)]
    cuts = np.floor(np.cumsum(share)[:-1] * len(perm)).astype(np.int64)
    return [np.sort(part).astype(np.int64) for part in np.split(perm, cuts)]


def dirichlet(labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator,
              weights: np.ndarray | None = None) -> list[np.ndarray]:
    """Label skew: each class is split across clients with proportions drawn from Dirichlet(alpha).

    Small ``alpha`` (0.1) gives each client few classes; large ``alpha`` (100) approaches IID. ``weights``
    (relative data sizes) scale every client's proportions, so its expected share follows its weight.
    """
    share = _check_weights(weights, num_clients)
    labels = _check_labels(labels)
    _check_clients(num_clients)
    if not alpha > 0 or not math.isfinite(alpha):
        raise PartitionError(f"alpha must be a positive finite number, got {alpha}")
    owner = np.empty(len(labels), dtype=np.int64)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        shares = rng.dirichlet(np.full(num_clients, alpha))
        if share is not None:
            shares = shares * share / float(np.sum(shares * share))
        cuts = np.floor(np.cumsum(shares)[:-1] * len(members))
        owner[members] = np.searchsorted(cuts, np.arange(len(members)), side="right")
    return group_by(owner, np.arange(len(labels)), num_clients)


class RegionalStream:
    """Time-varying data: samples belong to lat/lon regions and arrive while a satellite is overhead.

    The training set is split across ``region_deg`` x ``region_deg`` cells with Dirichlet(alpha)
    label skew (deserts, oceans and farmland look different). Between two ``update`` calls a
    satellite receives Poisson(``arrival_rate`` * dt) samples drawn from the cell under it at the
    later time, keeps each for ``ttl_s`` seconds, and at most ``capacity`` of the newest.
    Call ``update`` at least as often as a satellite changes cells to follow its ground track closely.
    """

    def __init__(self, labels: np.ndarray, num_satellites: int, seed: int = 0, region_deg: float = 30.0,
                 alpha: float = 0.5, arrival_rate: float = 0.5, ttl_s: float = 600.0,
                 capacity: int | None = None) -> None:
        _check_clients(num_satellites)
        if not 0 < region_deg <= 180:
            raise PartitionError(f"region_deg must be in (0, 180], got {region_deg}")
        if arrival_rate < 0 or not ttl_s > 0:
            raise PartitionError(f"need arrival_rate >= 0 and ttl_s > 0, got {arrival_rate} and {ttl_s}")
        if capacity is not None and capacity < 1:
            raise PartitionError(f"capacity must be >= 1 or None, got {capacity}")
        self.num_satellites = int(num_satellites)
        self.region_deg = float(region_deg)
        self.arrival_rate, self.ttl_s, self.capacity = float(arrival_rate), float(ttl_s), capacity
        self.num_lat = math.ceil(180.0 / region_deg)
        self.num_lon = math.ceil(360.0 / region_deg)
        self._rng = np.random.default_rng(seed)
        pools = dirichlet(labels, self.num_lat * self.num_lon, alpha, self._rng)
        self.region_pools = pools
        self._pool = np.concatenate(pools)
        self._pool_size = np.array([len(p) for p in pools], dtype=np.int64)
        self._pool_start = np.concatenate([[0], np.cumsum(self._pool_size)[:-1]]).astype(np.int64)
        self._sat = np.zeros(0, dtype=np.int64)
        self._sample = np.zeros(0, dtype=np.int64)
        self._arrival = np.zeros(0, dtype=np.float64)
        self.time_s: float | None = None

    def region_of(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        """Cell index ``lat_row * num_lon + lon_col`` of each point (longitudes wrap)."""
        row = np.clip(((np.asarray(lat_deg) + 90.0) // self.region_deg).astype(np.int64), 0, self.num_lat - 1)
        col = ((np.mod(np.asarray(lon_deg) + 180.0, 360.0)) // self.region_deg).astype(np.int64)
        return row * self.num_lon + np.minimum(col, self.num_lon - 1)

    def update(self, time_s: float, sub_lat_deg: np.ndarray, sub_lon_deg: np.ndarray) -> list[np.ndarray]:
        """Advance to ``time_s``: add arrivals, drop expired samples, return each satellite's D_n(t).

        The first call fills every satellite with one TTL's worth of data from the cell under it,
        so a simulation does not start with empty satellites.
        """
        lat, lon = self._check_points(sub_lat_deg, sub_lon_deg)
        if not math.isfinite(time_s):
            raise PartitionError(f"time_s must be finite, got {time_s}")
        if self.time_s is not None and time_s < self.time_s:
            raise PartitionError(f"time went backwards: update({time_s}) after update({self.time_s})")
        dt = self.ttl_s if self.time_s is None else time_s - self.time_s
        self.time_s = float(time_s)
        self._arrive(time_s, dt, self.region_of(lat, lon))
        self._expire(time_s)
        return self.holdings()

    def holdings(self) -> list[np.ndarray]:
        """Each satellite's current sample indices (sorted), without advancing time."""
        return group_by(self._sat, self._sample, self.num_satellites)

    def state_dict(self) -> dict[str, Any]:
        """The mutable state (held samples, clock, generator) as arrays and JSON-safe values.

        Everything else is rebuilt from the constructor arguments, so a checkpoint stores no
        Python objects (and loads without unpickling code).
        """
        return {"sat": self._sat.copy(), "sample": self._sample.copy(), "arrival": self._arrival.copy(),
                "time_s": self.time_s, "rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict` on a stream built with the same arguments."""
        sat = np.asarray(state["sat"], dtype=np.int64)
        sample = np.asarray(state["sample"], dtype=np.int64)
        arrival = np.asarray(state["arrival"], dtype=np.float64)
        if not (sat.shape == sample.shape == arrival.shape and sat.ndim == 1):
            raise PartitionError("stream state: 'sat', 'sample' and 'arrival' must be 1-D arrays of one length")
        if len(sat) and (sat.min() < 0 or sat.max() >= self.num_satellites or sample.min() < 0
                         or sample.max() > int(self._pool.max(initial=0))
                         or not np.isfinite(arrival).all()):
            raise PartitionError("stream state: satellite or sample index out of range, or a non-finite time")
        time_s = state["time_s"]
        if time_s is not None and not math.isfinite(float(time_s)):
            raise PartitionError(f"stream state: time_s = {time_s!r} is not finite")
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as exc:
            raise PartitionError(f"stream state: bad generator state ({exc})") from None
        self._sat, self._sample, self._arrival = sat, sample, arrival
        self.time_s = None if time_s is None else float(time_s)
        self._rng = rng

    def _check_points(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        expected = (self.num_satellites,)
        if lat.shape != expected or lon.shape != expected:
            raise PartitionError(f"sub-satellite points must have shape {expected}, got {lat.shape} and {lon.shape}")
        if not (np.isfinite(lat).all() and np.isfinite(lon).all()) or np.abs(lat).max(initial=0) > 90:
            raise PartitionError("sub-satellite latitudes must be finite and within [-90, 90] (and longitudes finite)")
        return lat, lon

    def _arrive(self, time_s: float, dt: float, region: np.ndarray) -> None:
        expected = self.arrival_rate * dt * self.num_satellites
        if expected > MAX_ARRIVALS:  # numpy would try to allocate it (or refuse the Poisson rate) in its own words
            raise PartitionError(f"arrival_rate = {self.arrival_rate:g} samples/s brings about {expected:.3g} samples "
                                 f"in {dt:g} s to {self.num_satellites} satellites, more than the {MAX_ARRIVALS:,} "
                                 f"the simulator holds; lower --arrival-rate")
        available = self._pool_size[region]
        counts = self._rng.poisson(self.arrival_rate * dt, self.num_satellites) * (available > 0)
        sat = np.repeat(np.arange(self.num_satellites), counts)
        pick = np.floor(self._rng.random(len(sat)) * available[sat]).astype(np.int64)
        sample = self._pool[self._pool_start[region[sat]] + pick]
        arrival = time_s - self._rng.random(len(sat)) * dt
        self._sat = np.concatenate([self._sat, sat])
        self._sample = np.concatenate([self._sample, sample])
        self._arrival = np.concatenate([self._arrival, arrival])

    def _expire(self, time_s: float) -> None:
        keep = self._arrival > time_s - self.ttl_s
        sat, sample, arrival = self._sat[keep], self._sample[keep], self._arrival[keep]
        # Newest first within each satellite, so duplicates keep their latest arrival and the
        # capacity cut keeps the freshest samples.
        order = np.lexsort((-arrival, sat))
        sat, sample, arrival = sat[order], sample[order], arrival[order]
        key = sat * (int(self._pool.max(initial=0)) + 1) + sample
        _, first = np.unique(key, return_index=True)
        first = np.sort(first)
        sat, sample, arrival = sat[first], sample[first], arrival[first]
        if self.capacity is not None and len(sat):
            group_start = np.searchsorted(sat, sat, side="left")
            rank = np.arange(len(sat)) - group_start
            keep = rank < self.capacity
            sat, sample, arrival = sat[keep], sample[keep], arrival[keep]
        self._sat, self._sample, self._arrival = sat, sample, arrival
