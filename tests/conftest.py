"""Shared pytest fixtures: the optional real-data folder `../shared/data`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("FEDSPAN_SHARED_DATA")
    return Path(env) if env else _REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real-data folder; skips the test cleanly when it is absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not present")
    return path


@pytest.fixture(scope="session")
def starlink_tle(shared_data: Path) -> Path:
    """The real 5236-satellite Starlink snapshot; skips when absent."""
    path = shared_data / "starlink-2024-05.tle"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path
