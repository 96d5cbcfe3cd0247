"""Orbits layer: constellations from TLE files or Walker presets, SGP4 propagation,
time-varying inter-satellite-link graphs, ground stations and link budgets."""

from orbits.constellation import Constellation, DroppedSatellite
from orbits.errors import GroundStationError, OrbitsError, OrbitsWarning, TLEError
from orbits.ground import (
    GroundStation,
    RFParams,
    VisibilityWindow,
    downlink_rate_bps,
    elevation_deg,
    read_ground_stations,
    slant_range_km,
    visibility_windows,
)
from orbits.hypatia import export_satgenpy
from orbits.isl import Snapshot, snapshots
from orbits.links import LinkParams, laser_rate_bps, laser_rate_per_watt, link_rate_bps, link_rate_per_watt, propagation_delay_s
from orbits.planes import PlaneLayout, PlaneTolerance
from orbits.propagation import Propagation
from orbits.tle import TLE, make_tle, parse_tle, read_tle, tle_checksum, write_tle
from orbits.walker import WALKER_PRESETS, WalkerSpec, walker_delta, write_preset

__all__ = [
    "Constellation",
    "DroppedSatellite",
    "GroundStation",
    "GroundStationError",
    "LinkParams",
    "OrbitsError",
    "OrbitsWarning",
    "PlaneLayout",
    "PlaneTolerance",
    "Propagation",
    "RFParams",
    "Snapshot",
    "TLE",
    "TLEError",
    "VisibilityWindow",
    "WALKER_PRESETS",
    "WalkerSpec",
    "downlink_rate_bps",
    "elevation_deg",
    "export_satgenpy",
    "laser_rate_bps",
    "laser_rate_per_watt",
    "link_rate_bps",
    "link_rate_per_watt",
    "make_tle",
    "parse_tle",
    "propagation_delay_s",
    "read_ground_stations",
    "read_tle",
    "slant_range_km",
    "snapshots",
    "tle_checksum",
    "visibility_windows",
    "walker_delta",
    "write_preset",
    "write_tle",
]
