"""Exception types of the orbits layer."""

from __future__ import annotations


class OrbitsError(ValueError):
    """Base class for every error the orbits layer raises on bad input."""
