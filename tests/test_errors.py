"""Error types shared across layers."""

from __future__ import annotations


def test_input_errors_survive_pickling() -> None:
    """Errors with structured fields cross process pools intact (benchmarks and clustered planning use them)."""
    import pickle

    from fedspan.data.errors import DataError
    from orbits.errors import GroundStationError, TLEError

    for err in (DataError("x.idx", "truncated", 3), TLEError("f.tle", 7, "bad checksum"),
                GroundStationError("gs.csv", 2, "latitude 95 out of range")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
