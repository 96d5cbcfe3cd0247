"""Orbits layer: constellations from TLE files or Walker presets, SGP4 propagation,
time-varying inter-satellite-link graphs, ground stations and link budgets."""

from orbits.errors import OrbitsError

__all__ = ["OrbitsError"]
