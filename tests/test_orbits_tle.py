"""TLE reader/writer: formats, validation errors with line numbers, fuzzing, round trips."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbits import TLE, OrbitsError, TLEError, make_tle, parse_tle, read_tle, tle_checksum, write_tle
from orbits.errors import OrbitsWarning

ISS = (
    "ISS (ZARYA)",
    "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537",
)
STARLINK = (
    "STARLINK-1007",
    "1 44713U 19074A   24132.87335581 -.00003967  00000+0 -24756-3 0  9995",
    "2 44713  53.0536 300.0683 0001446  97.1037 263.0116 15.06396798248248",
)


def _fix_checksum(line: str) -> str:
    return line[:68] + str(tle_checksum(line))


def test_checksum_of_known_lines() -> None:
    assert tle_checksum(ISS[1]) == 7 and tle_checksum(ISS[2]) == 7
    assert tle_checksum(STARLINK[1]) == 5 and tle_checksum(STARLINK[2]) == 8


def test_three_line_two_line_crlf_and_trailing_spaces_parse_alike() -> None:
    three = "\n".join(ISS + STARLINK) + "\n"
    two = "\n".join(ISS[1:] + STARLINK[1:])
    messy = "\r\n".join(line + "   " for line in ISS + STARLINK) + "\r\n\r\n"
    a, b, c = parse_tle(three), parse_tle(two), parse_tle(messy)
    assert [t.line1 for t in a] == [t.line1 for t in b] == [t.line1 for t in c]
    assert [t.name for t in a] == ["ISS (ZARYA)", "STARLINK-1007"] == [t.name for t in c]
    assert [t.name for t in b] == ["", ""] and b[0].label == "NORAD 25544"
    assert a[0].norad_id == 25544 and a[1].norad_id == 44713


def test_celestrak_zero_prefixed_names() -> None:
    tles = parse_tle("0 " + ISS[0] + "\n" + ISS[1] + "\n" + ISS[2])
    assert tles[0].name == "ISS (ZARYA)"


def test_epoch_and_elements() -> None:
    tle = parse_tle("\n".join(STARLINK))[0]
    expected = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=132.87335581 - 1)
    assert abs((tle.epoch - expected).total_seconds()) < 1e-3
    assert tle.inclination_deg == 53.0536 and tle.eccentricity == pytest.approx(0.0001446)
    assert tle.mean_motion_rev_per_day == pytest.approx(15.06396798)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("\n".join((ISS[0], ISS[1][:-1] + "0", ISS[2])), 2, "checksum"),
        ("\n".join((ISS[0], ISS[1], ISS[2][:40])), 3, "columns"),
        ("\n".join((ISS[0], ISS[1])), 2, "not followed by a line 2"),
        ("\n".join((ISS[0], "just a name", ISS[1], ISS[2])), 1, "not followed by a TLE line 1"),
        ("\n".join((ISS[2],)), 1, "line 2 without"),
        ("\n".join((ISS[1], _fix_checksum(ISS[2][:2] + "25545" + ISS[2][7:]))), 1, "catalogue numbers differ"),
        ("\n".join((ISS[1], _fix_checksum(ISS[2][:8] + "191.6416" + ISS[2][16:]))), 2, "inclination"),
        ("\n".join((ISS[1], _fix_checksum(ISS[2][:52] + "  abcdefghi" + ISS[2][63:]))), 2, "mean motion"),
        ("\n".join(ISS + ISS), 5, "duplicate NORAD id 25544 (first at line 2)"),
    ],
)
def test_bad_input_names_line_and_problem(text: str, line: int, fragment: str) -> None:
    with pytest.raises(TLEError) as info:
        parse_tle(text, source="bad.tle")
    assert info.value.line == line and fragment in info.value.reason
    assert str(info.value).startswith(f"bad.tle:{line}:")


def test_lenient_mode_skips_bad_sets_with_one_warning() -> None:
    text = "\n".join((ISS[0], ISS[1][:-1] + "0", ISS[2]) + STARLINK + ISS + STARLINK)
    with pytest.warns(OrbitsWarning, match=r"skipped 2 bad TLE record"):
        tles = parse_tle(text, strict=False)
    assert [t.norad_id for t in tles] == [44713, 25544]


def test_read_tle_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TLEError, match="cannot read file"):
        read_tle(tmp_path / "missing.tle")
    bad = tmp_path / "latin1.tle"
    bad.write_bytes(("\n".join(STARLINK) + "\nCAF\xe9\n").encode("latin-1"))
    with pytest.raises(TLEError) as info:
        read_tle(bad)
    assert info.value.line == 4 and "not UTF-8" in info.value.reason
    with pytest.warns(OrbitsWarning):
        assert [t.norad_id for t in read_tle(bad, strict=False)] == [44713]


def test_write_refuses_invalid_tle(tmp_path: Path) -> None:
    with pytest.raises(TLEError, match="checksum"):
        write_tle(tmp_path / "x.tle", [TLE("X", ISS[1][:-1] + "0", ISS[2])])
    with pytest.raises(OrbitsError, match="timezone-aware"):
        make_tle(1, datetime(2024, 1, 1), 53, 0, 0, 0, 0, 15)


elements = st.fixed_dictionaries(
    {
        "norad_id": st.integers(0, 339_999),
        "epoch": st.datetimes(datetime(1960, 1, 1), datetime(2055, 12, 31), timezones=st.just(timezone.utc)),
        "inclination_deg": st.floats(0, 180),
        "raan_deg": st.floats(0, 360, exclude_max=True),
        "eccentricity": st.floats(0, 0.99),
        "arg_perigee_deg": st.floats(0, 360, exclude_max=True),
        "mean_anomaly_deg": st.floats(0, 360, exclude_max=True),
        "mean_motion_rev_per_day": st.floats(0.5, 17.0),
        "bstar": st.one_of(st.just(0.0), st.floats(-0.5, 0.5).filter(lambda b: abs(b) > 1e-8)),
        "name": st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=24)
        .map(str.strip)
        .filter(lambda n: not n.startswith(("1 ", "2 ", "0 "))),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(elements, min_size=1, max_size=5, unique_by=lambda e: e["norad_id"]))
def test_writer_reader_round_trip(tmp_path: Path, sets: list[dict]) -> None:
    tles = [make_tle(**e) for e in sets]
    path = tmp_path / "round.tle"
    assert write_tle(path, tles) == len(tles)
    back = read_tle(path)
    assert back == tles
    for tle, e in zip(back, sets):
        assert tle.norad_id == e["norad_id"]
        assert abs((tle.epoch - e["epoch"]).total_seconds()) < 1e-3
        assert tle.inclination_deg == pytest.approx(e["inclination_deg"], abs=5e-5)
        assert tle.eccentricity == pytest.approx(e["eccentricity"], abs=5e-8)
        assert tle.mean_motion_rev_per_day == pytest.approx(e["mean_motion_rev_per_day"], abs=5e-9)


def _only_orbits_errors(call) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OrbitsWarning)
        try:
            call()
        except OrbitsError:
            pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600), st.booleans())
def test_random_bytes_raise_only_tle_errors(tmp_path: Path, data: bytes, strict: bool) -> None:
    path = tmp_path / "fuzz.tle"
    path.write_bytes(data)
    _only_orbits_errors(lambda: read_tle(path, strict=strict))


valid_text = "\n".join(ISS + STARLINK) + "\n"


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, len(valid_text)),
    st.integers(0, 40),
    st.text(alphabet="0123456789 +-.\n\rAUx\x00é", max_size=8),
    st.booleans(),
)
def test_mutated_files_raise_only_tle_errors_or_parse_valid_sets(cut: int, drop: int, junk: str, strict: bool) -> None:
    text = valid_text[:cut] + junk + valid_text[cut + drop :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OrbitsWarning)
        try:
            tles = parse_tle(text, strict=strict)
        except TLEError as exc:
            assert strict and exc.line is not None and exc.line >= 1
            return
    for tle in tles:  # whatever survives is a fully valid, checksummed set
        assert tle_checksum(tle.line1) == int(tle.line1[68]) and tle_checksum(tle.line2) == int(tle.line2[68])


def test_huge_input_is_handled_linearly() -> None:
    big = "\n".join(ISS[1:]) + "\n" + ("X" * 200_000 + "\n") * 50
    with pytest.raises(TLEError) as info:
        parse_tle(big)
    assert info.value.line == 3
    with pytest.warns(OrbitsWarning, match="skipped 50"):
        assert len(parse_tle(big, strict=False)) == 1


def test_real_tle_files_all_parse(shared_data: Path) -> None:
    counts = {"starlink-2024-05.tle": 5236, "oneweb-2025-12.tle": 651, "iridium-next-2026-01.tle": 66,
              "kuiper-2026-07.tle": 364, "planet-2023-04.tle": 188}
    for name, count in counts.items():
        path = shared_data / name
        if path.is_file():
            tles = read_tle(path)
            assert len(tles) == count and all(t.name for t in tles)
