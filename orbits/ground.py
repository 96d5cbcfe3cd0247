"""Ground stations: CSV reader, elevation and visibility windows, RF (Shannon) downlink rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbits.errors import GroundStationError
from orbits.fileio import read_capped
from orbits.frames import geodetic_to_ecef
from orbits.links import SPEED_OF_LIGHT_M_S

__all__ = [
    "GroundStation",
    "RFParams",
    "VisibilityWindow",
    "read_ground_stations",
    "station_positions_ecef_km",
    "elevation_deg",
    "slant_range_km",
    "visibility_windows",
    "downlink_rate_bps",
]

_BOLTZMANN_DBW_PER_K_HZ = 10.0 * math.log10(1.380649e-23)
MAX_STATION_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class GroundStation:
    """A ground station: WGS-84 latitude/longitude (deg), altitude (km) and elevation mask (deg)."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_km: float = 0.0
    min_elevation_deg: float = 25.0

    def __post_init__(self) -> None:
        checks = (
            ("latitude", self.lat_deg, -90.0, 90.0),
            ("longitude", self.lon_deg, -180.0, 180.0),
            ("altitude (km)", self.alt_km, -0.5, 10.0),
            ("minimum elevation", self.min_elevation_deg, -90.0, 90.0),
        )
        for what, value, low, high in checks:
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise GroundStationError(f"station {self.name!r}", None, f"{what} {value!r} is outside [{low}, {high}]")


@dataclass(frozen=True)
class RFParams:
    """Ka-band satellite-to-ground downlink (documented defaults, a typical gateway link).

    Attributes:
        frequency_hz: carrier frequency (20 GHz, Ka-band downlink).
        bandwidth_hz: channel bandwidth (500 MHz).
        eirp_dbw: satellite EIRP (36 dBW).
        gain_to_noise_dbk: ground receiver G/T (20 dB/K).
        losses_db: atmospheric, rain and implementation margin (3 dB).
    """

    frequency_hz: float = 20e9
    bandwidth_hz: float = 500e6
    eirp_dbw: float = 36.0
    gain_to_noise_dbk: float = 20.0
    losses_db: float = 3.0

    def __post_init__(self) -> None:
        if not (self.frequency_hz > 0 and self.bandwidth_hz > 0):
            raise GroundStationError("RFParams", None, "frequency and bandwidth must be positive")
        if not all(math.isfinite(v) for v in (self.eirp_dbw, self.gain_to_noise_dbk, self.losses_db)):
            raise GroundStationError("RFParams", None, "EIRP, G/T and losses must be finite")


@dataclass(frozen=True)
class VisibilityWindow:
    """Satellite `satellite` is above station `station`'s mask from start_s to end_s (offsets, s)."""

    station: int
    satellite: int
    start_s: float
    end_s: float


def _parse_row(fields: list[str], source: str, line: int) -> GroundStation:
    """One CSV row: 'name,lat,lon[,alt_km[,min_elev]]' or satgenpy 'id,name,lat,lon,elev_m[,x,y,z]'."""
    fields = [f.strip() for f in fields]
    try:
        # satgenpy's second field is a name: '5,48.85,2.35,0.1,10' is ours (name '5', lat, lon, alt, mask).
        if len(fields) in (5, 8) and fields[0].isdigit() and not _is_number(fields[1]):
            name, lat, lon, alt = fields[1], float(fields[2]), float(fields[3]), float(fields[4]) / 1000.0
            return GroundStation(name, lat, lon, alt)
        if 3 <= len(fields) <= 5:
            numbers = [float(f) for f in fields[1:]]
            return GroundStation(fields[0], *numbers)
    except ValueError as exc:
        reason = exc.reason if isinstance(exc, GroundStationError) else f"non-numeric field ({exc})"
        raise GroundStationError(source, line, reason) from None
    raise GroundStationError(
        source, line, f"expected 'name,lat,lon[,alt_km[,min_elevation_deg]]' or satgenpy 'id,name,lat,lon,elev_m', got {len(fields)} fields"
    )


def _is_number(text: str) -> bool:
    """True if the field parses as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_ground_stations(path: str | Path) -> list[GroundStation]:
    """Read a ground-station CSV (optional header, '#' comments); errors name the file and line."""
    path = Path(path)
    try:
        data = read_capped(path, MAX_STATION_FILE_BYTES)  # size checked first; /dev/zero, FIFOs refused
    except OSError as exc:
        raise GroundStationError(path, None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GroundStationError(path, data.count(b"\n", 0, exc.start) + 1, "file is not UTF-8 text") from None
    stations = []
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(",")
        if not stations and not any(_is_number(f) for f in fields):
            continue  # header row such as "name,lat,lon"
        stations.append(_parse_row(fields, str(path), number))
    if not stations:
        raise GroundStationError(path, None, "no ground stations in file")
    return stations


def station_positions_ecef_km(stations: Sequence[GroundStation]) -> NDArray[np.float64]:
    """Earth-fixed positions (G, 3) of the stations, km."""
    return geodetic_to_ecef(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_km for s in stations]
    ).reshape(-1, 3)


def _local_up(stations: Sequence[GroundStation]) -> NDArray[np.float64]:
    """Unit ellipsoid normals (G, 3) at the stations."""
    lat = np.radians([s.lat_deg for s in stations])
    lon = np.radians([s.lon_deg for s in stations])
    return np.stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)), axis=-1).reshape(-1, 3)


def elevation_deg(stations: Sequence[GroundStation], positions_ecef_km: NDArray[np.float64]) -> NDArray:
    """Elevation (deg) of satellites at Earth-fixed positions (T, N, 3) from each station: (T, G, N)."""
    line = positions_ecef_km[:, None, :, :] - station_positions_ecef_km(stations)[None, :, None, :]
    up = _local_up(stations)[None, :, None, :]
    sine = np.einsum("tgnk,tgnk->tgn", line, np.broadcast_to(up, line.shape)) / np.linalg.norm(line, axis=-1)
    return np.degrees(np.arcsin(np.clip(sine, -1.0, 1.0)))


def slant_range_km(stations: Sequence[GroundStation], positions_ecef_km: NDArray[np.float64]) -> NDArray:
    """Station-to-satellite distances (T, G, N) in km."""
    line = positions_ecef_km[:, None, :, :] - station_positions_ecef_km(stations)[None, :, None, :]
    return np.linalg.norm(line, axis=-1)


def visibility_windows(
    stations: Sequence[GroundStation], elevation: NDArray[np.float64], offsets_s: ArrayLike
) -> list[VisibilityWindow]:
    """Intervals where elevation (T, G, N) is above each station's mask; edges interpolated linearly.

    Windows already open at the first sample start there; windows open at the last sample end there.
    """
    times = np.asarray(offsets_s, dtype=np.float64)
    excess = elevation - np.array([s.min_elevation_deg for s in stations])[None, :, None]
    above = np.nan_to_num(excess, nan=-1.0) >= 0.0
    padded = np.concatenate((np.zeros_like(above[:1]), above, np.zeros_like(above[:1])), axis=0).astype(np.int8)
    change = np.diff(padded, axis=0)
    rise_t, rise_g, rise_n = np.nonzero(change == 1)
    set_t, set_g, set_n = np.nonzero(change == -1)
    # nonzero() walks (t, g, n) in C order; reorder both by (g, n, t) so rises and sets pair up.
    rise = np.lexsort((rise_t, rise_n, rise_g))
    fall = np.lexsort((set_t, set_n, set_g))
    rise_t, rise_g, rise_n, set_t = rise_t[rise], rise_g[rise], rise_n[rise], set_t[fall] - 1
    starts = _crossing(times, excess, rise_t - 1, rise_t, rise_g, rise_n)
    ends = _crossing(times, excess, set_t, set_t + 1, rise_g, rise_n)
    return [VisibilityWindow(int(g), int(n), float(a), float(b)) for g, n, a, b in zip(rise_g, rise_n, starts, ends)]


def _crossing(times: NDArray, excess: NDArray, before: NDArray, after: NDArray, g: NDArray, n: NDArray) -> NDArray:
    """Time where excess elevation crosses 0 between samples `before` and `after` (clamped at ends)."""
    inside = (before >= 0) & (after < len(times))
    b, a = np.clip(before, 0, len(times) - 1), np.clip(after, 0, len(times) - 1)
    e0, e1 = excess[b, g, n], excess[a, g, n]
    fraction = np.where(inside & (e1 != e0), -e0 / np.where(e1 != e0, e1 - e0, 1.0), 0.0)
    fraction = np.clip(np.nan_to_num(fraction), 0.0, 1.0)
    crossing = times[b] + fraction * (times[a] - times[b])
    return np.where(inside, crossing, np.where(before < 0, times[a], times[b]))


def downlink_rate_bps(distance_km: ArrayLike, params: RFParams = RFParams()) -> NDArray[np.float64]:
    """Shannon rate B log2(1 + SNR) of the RF downlink with free-space path loss at distance_km.

    Channel capacity of Shannon [1]_ with the free-space path loss (4 pi d f / c)^2 of Friis [2]_.

    Examples
    --------
    >>> rate = downlink_rate_bps([1000.0, 2000.0])
    >>> bool(rate[0] > rate[1] > 0)
    True

    References
    ----------
    .. [1] C. E. Shannon, "A mathematical theory of communication", Bell System Technical Journal 27,
       379-423 and 623-656, 1948.
    .. [2] H. T. Friis, "A note on a simple transmission formula", Proceedings of the IRE 34(5),
       254-256, 1946.
    """
    distance_m = np.asarray(distance_km, dtype=np.float64) * 1e3
    path_loss_db = 20.0 * np.log10(4.0 * np.pi * distance_m * params.frequency_hz / SPEED_OF_LIGHT_M_S)
    snr_db = (
        params.eirp_dbw
        + params.gain_to_noise_dbk
        - path_loss_db
        - params.losses_db
        - _BOLTZMANN_DBW_PER_K_HZ
        - 10.0 * np.log10(params.bandwidth_hz)
    )
    return params.bandwidth_hz * np.log2(1.0 + 10.0 ** (snr_db / 10.0))
