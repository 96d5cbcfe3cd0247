"""Orbits layer: constellations from TLE files or Walker presets, SGP4 propagation,
time-varying inter-satellite-link graphs, ground stations, link budgets, sun/shadow and batteries."""

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
from orbits.power import BatteryStep, PowerSystem, round_budget_j, step_battery
from orbits.propagation import Propagation
from orbits.sun import shadow_fraction, sun_position_km, sunlit_fraction
from orbits.tle import TLE, make_tle, parse_tle, read_tle, tle_checksum, write_tle
from orbits.walker import WALKER_PRESETS, WalkerSpec, walker_delta, write_preset

__all__ = [
    "BatteryStep",
    "Constellation",
    "DroppedSatellite",
    "GroundStation",
    "GroundStationError",
    "LinkParams",
    "OrbitsError",
    "OrbitsWarning",
    "PlaneLayout",
    "PlaneTolerance",
    "PowerSystem",
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
    "round_budget_j",
    "shadow_fraction",
    "slant_range_km",
    "snapshots",
    "step_battery",
    "sun_position_km",
    "sunlit_fraction",
    "tle_checksum",
    "visibility_windows",
    "walker_delta",
    "write_preset",
    "write_tle",
]
