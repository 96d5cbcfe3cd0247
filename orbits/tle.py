"""Two-line element sets: a validating reader (2-line and 3-line files) and a checksummed writer."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from orbits.errors import OrbitsError, OrbitsWarning, TLEError
from orbits.fileio import read_capped

__all__ = [
    "TLE",
    "TLEError",
    "MAX_TLE_FILE_BYTES",
    "tle_checksum",
    "parse_tle",
    "read_tle",
    "write_tle",
    "make_tle",
]

#: Larger files are refused up front: the whole public catalogue is ~30k objects (~5 MB).
MAX_TLE_FILE_BYTES = 256 * 1024 * 1024

_LINE_LENGTH = 69
# Alpha-5 catalogue numbers (e.g. "A0001" = 100001) skip I and O to avoid confusion with 1 and 0.
_ALPHA5 = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_SATNUM = re.compile(r"^[0-9A-HJ-NP-Z ][0-9 ]{3}[0-9]$")
_EXP_FIELD = re.compile(r"^[ +-]?[0-9 ]{5}[ +-][0-9]$")


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of the first 68 columns: digits count their value, '-' counts 1.

    The checksum of the two-line element format defined with SGP4 in Spacetrack Report No. 3 [1]_.

    Examples
    --------
    >>> tle_checksum("1 00001U 00000A   24133.00000000  .00000000  00000-0  00000-0 0  9994")
    4

    References
    ----------
    .. [1] F. R. Hoots and R. L. Roehrich, "Models for propagation of NORAD element sets",
       Spacetrack Report No. 3, U.S. Air Force Aerospace Defense Command, 1980.
    """
    total = 0
    for char in line[:68]:
        if char.isdigit():
            total += ord(char) - 48
        elif char == "-":
            total += 1
    return total % 10


def _decode_satnum(field: str) -> int:
    """Catalogue number from the 5-column field, including the Alpha-5 extension."""
    head = field[0]
    if head in _ALPHA5:
        return (_ALPHA5.index(head) + 10) * 10000 + int(field[1:])
    return int(field.replace(" ", "0"))


def _encode_satnum(norad_id: int) -> str:
    """Inverse of `_decode_satnum` for ids 0..339999."""
    if 0 <= norad_id < 100000:
        return f"{norad_id:05d}"
    if 100000 <= norad_id < 340000:
        return _ALPHA5[norad_id // 10000 - 10] + f"{norad_id % 10000:04d}"
    raise OrbitsError(f"NORAD id {norad_id} is outside the TLE range 0..339999")


def _epoch_from_fields(year2: int, day: float) -> datetime:
    """UTC epoch from the two-digit year (57..99 -> 19xx) and fractional day of year."""
    year = 1900 + year2 if year2 >= 57 else 2000 + year2
    return datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(days=day - 1.0)


@dataclass(frozen=True)
class TLE:
    """One element set: optional name plus the two 69-column lines (trailing spaces removed)."""

    name: str
    line1: str
    line2: str

    @property
    def norad_id(self) -> int:
        """NORAD catalogue number (Alpha-5 aware)."""
        return _decode_satnum(self.line1[2:7])

    @property
    def epoch(self) -> datetime:
        """Epoch of the element set as a timezone-aware UTC datetime."""
        return _epoch_from_fields(int(self.line1[18:20]), float(self.line1[20:32]))

    @property
    def inclination_deg(self) -> float:
        """Mean inclination in degrees."""
        return float(self.line2[8:16])

    @property
    def raan_deg(self) -> float:
        """Right ascension of the ascending node at epoch, degrees."""
        return float(self.line2[17:25])

    @property
    def eccentricity(self) -> float:
        """Mean eccentricity."""
        return float("0." + self.line2[26:33].replace(" ", "0"))

    @property
    def arg_perigee_deg(self) -> float:
        """Argument of perigee, degrees."""
        return float(self.line2[34:42])

    @property
    def mean_anomaly_deg(self) -> float:
        """Mean anomaly at epoch, degrees."""
        return float(self.line2[43:51])

    @property
    def mean_motion_rev_per_day(self) -> float:
        """Mean motion in revolutions per day."""
        return float(self.line2[52:63])

    @property
    def label(self) -> str:
        """Name if the file had one, otherwise 'NORAD <id>'."""
        return self.name or f"NORAD {self.norad_id}"


def _check_float(text: str, what: str, low: float, high: float) -> float:
    """Parse a fixed-column float and range-check it; raises ValueError with a readable reason."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} field {text.strip()!r} is not a number") from None
    if not (low <= value <= high) or math.isnan(value):
        raise ValueError(f"{what} {value} is outside [{low}, {high}]")
    return value


def _check_line(line: str, number: int) -> None:
    """Structural checks common to both lines: ASCII, length, line number, satnum, checksum."""
    if not line.isascii() or not line.isprintable():
        raise ValueError(f"line {number} contains non-ASCII or control characters")
    if len(line) != _LINE_LENGTH:
        raise ValueError(f"line {number} has {len(line)} columns, expected {_LINE_LENGTH}")
    if line[0] != str(number) or line[1] != " ":
        raise ValueError(f"line {number} must start with '{number} '")
    if not _SATNUM.match(line[2:7]):
        raise ValueError(f"line {number} catalogue number {line[2:7]!r} is malformed")
    if not line[68].isdigit():
        raise ValueError(f"line {number} checksum column {line[68]!r} is not a digit")
    expected = tle_checksum(line)
    if int(line[68]) != expected:
        raise ValueError(f"line {number} checksum is {line[68]}, computed {expected}")


def _check_line1_fields(line1: str) -> None:
    """Field checks of line 1 that SGP4 relies on."""
    if not line1[18:20].isdigit():
        raise ValueError(f"line 1 epoch year {line1[18:20]!r} is not two digits")
    _check_float(line1[20:32], "line 1 epoch day", 1.0, 367.0)
    _check_float(line1[33:43], "line 1 first derivative of mean motion", -1e3, 1e3)
    for columns, what in ((slice(44, 52), "second derivative of mean motion"), (slice(53, 61), "BSTAR")):
        if not _EXP_FIELD.match(line1[columns]):
            raise ValueError(f"line 1 {what} field {line1[columns]!r} is malformed")


def _check_line2_fields(line2: str) -> None:
    """Field checks of line 2: angles in range, eccentricity digits, positive mean motion."""
    _check_float(line2[8:16], "line 2 inclination", 0.0, 180.0)
    _check_float(line2[17:25], "line 2 RAAN", 0.0, 360.0)
    if not line2[26:33].replace(" ", "0").isdigit():
        raise ValueError(f"line 2 eccentricity field {line2[26:33]!r} is not 7 digits")
    _check_float(line2[34:42], "line 2 argument of perigee", 0.0, 360.0)
    _check_float(line2[43:51], "line 2 mean anomaly", 0.0, 360.0)
    motion = _check_float(line2[52:63], "line 2 mean motion (rev/day)", 0.0, 99.99999999)
    if motion <= 0.0:
        raise ValueError("line 2 mean motion must be positive")


def validate_tle_lines(line1: str, line2: str) -> None:
    """Raise ValueError describing the first problem of a (line 1, line 2) pair, if any."""
    _check_line(line1, 1)
    _check_line(line2, 2)
    if line1[2:7] != line2[2:7]:
        raise ValueError(f"catalogue numbers differ: line 1 {line1[2:7]!r}, line 2 {line2[2:7]!r}")
    _check_line1_fields(line1)
    _check_line2_fields(line2)


def _split_lines(text: str) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; CRLF/CR endings and trailing spaces removed."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    return [(number, line.rstrip()) for number, line in enumerate(normalized.split("\n"), 1) if line.strip()]


def _records(lines: Sequence[tuple[int, str]]) -> Iterable[tuple[int, str, str, str] | tuple[int, str]]:
    """Group lines into (lineno, name, line1, line2) records, or (lineno, reason) for stray lines."""
    i = 0
    while i < len(lines):
        number, text = lines[i]
        name = ""
        if text.startswith("2 "):
            yield number, "line 2 without a preceding line 1"
            i += 1
            continue
        if not text.startswith("1 "):
            # CelesTrak's 3LE layout prefixes names with "0 ".
            name = text[2:].strip() if text.startswith("0 ") else text.strip()
            if i + 1 >= len(lines) or not lines[i + 1][1].startswith("1 "):
                yield number, f"name line {text[:40]!r} is not followed by a TLE line 1"
                i += 1
                continue
            i += 1
        number1, line1 = lines[i]
        if i + 1 >= len(lines) or not lines[i + 1][1].startswith("2 "):
            yield number1, "TLE line 1 is not followed by a line 2"
            i += 1
            continue
        yield number1, name, line1, lines[i + 1][1]
        i += 2


def parse_tle(text: str, source: str = "<string>", strict: bool = True) -> list[TLE]:
    """Parse 2-line or 3-line TLE text; strict raises TLEError, strict=False skips bad sets with one warning."""
    tles: list[TLE] = []
    first_line_of: dict[int, int] = {}
    problems: list[tuple[int, str]] = []
    for record in _records(_split_lines(text)):
        if len(record) == 2:
            problems.append(record)  # type: ignore[arg-type]
        else:
            number, name, line1, line2 = record  # type: ignore[misc]
            try:
                validate_tle_lines(line1, line2)
            except ValueError as exc:
                # Report line 2 problems on line 2's number so editors jump to the right place.
                problems.append((number + 1 if str(exc).startswith("line 2") else number, str(exc)))
            else:
                tle = TLE(name, line1, line2)
                previous = first_line_of.get(tle.norad_id)
                if previous is not None:
                    problems.append((number, f"duplicate NORAD id {tle.norad_id} (first at line {previous})"))
                else:
                    first_line_of[tle.norad_id] = number
                    tles.append(tle)
        if strict and problems:
            raise TLEError(source, *problems[0])
    if problems:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in problems[:3])
        warnings.warn(f"{source}: skipped {len(problems)} bad TLE record(s) ({shown})", OrbitsWarning, stacklevel=2)
    return tles


def _decode(data: bytes, source: str, strict: bool) -> str:
    """Decode UTF-8; a bad byte is a TLEError naming its line (strict) or is replaced (lenient)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not strict:
            return data.decode("utf-8", errors="replace")
        line = data.count(b"\n", 0, exc.start) + 1
        raise TLEError(source, line, f"byte {data[exc.start]:#04x} at offset {exc.start} is not UTF-8") from None


def read_tle(path: str | Path, strict: bool = True) -> list[TLE]:
    """Read a TLE file (2-line or 3-line, any line endings); see `parse_tle` for `strict`."""
    path = Path(path)
    try:
        data = read_capped(path, MAX_TLE_FILE_BYTES)  # size checked first; /dev/zero, FIFOs refused
    except OSError as exc:
        raise TLEError(path, None, f"cannot read file: {exc.strerror or exc}") from None
    return parse_tle(_decode(data, str(path), strict), source=str(path), strict=strict)


def write_tle(path: str | Path, tles: Iterable[TLE]) -> int:
    """Write TLEs (3-line where a name is set, else 2-line) after validating them; returns the count."""
    path = Path(path)
    chunks: list[str] = []
    for index, tle in enumerate(tles):
        try:
            validate_tle_lines(tle.line1, tle.line2)
        except ValueError as exc:
            raise TLEError(path, None, f"refusing to write TLE #{index} ({tle.name!r}): {exc}") from None
        if "\n" in tle.name or "\r" in tle.name or tle.name.startswith(("1 ", "2 ")):
            raise TLEError(path, None, f"TLE #{index} name {tle.name!r} would not read back as a name line")
        if tle.name:
            chunks.append(tle.name)
        chunks.extend((tle.line1, tle.line2))
    try:
        path.write_text("\n".join(chunks) + ("\n" if chunks else ""), encoding="utf-8")
    except OSError as exc:
        raise TLEError(path, None, f"cannot write file: {exc.strerror or exc}") from None
    return sum(1 for chunk in chunks if chunk.startswith("2 ") and len(chunk) == _LINE_LENGTH)


def _with_checksum(body: str) -> str:
    """Append the checksum digit to a 68-column line body."""
    if len(body) != 68:
        raise OrbitsError(f"internal TLE formatting error: {len(body)} columns in {body!r}")
    return body + str(tle_checksum(body))


def _angle(value: float, what: str) -> str:
    """An angle in [0, 360) formatted as 8.4f (rounding 359.99999 to 0.0000, not 360.0000)."""
    if not math.isfinite(value):
        raise OrbitsError(f"{what} must be finite, got {value}")
    rounded = round(value % 360.0, 4) % 360.0
    return f"{rounded:8.4f}"


def make_tle(
    norad_id: int,
    epoch: datetime,
    inclination_deg: float,
    raan_deg: float,
    eccentricity: float,
    arg_perigee_deg: float,
    mean_anomaly_deg: float,
    mean_motion_rev_per_day: float,
    name: str = "",
    bstar: float = 0.0,
) -> TLE:
    """Format orbital elements as a checksummed TLE (epoch rounded to the format's 1e-8 day)."""
    if epoch.tzinfo is None:
        raise OrbitsError(f"TLE epoch {epoch!r} must be timezone-aware (UTC)")
    if not 0.0 <= inclination_deg <= 180.0:
        raise OrbitsError(f"inclination {inclination_deg} deg is outside [0, 180]")
    if not 0.0 <= eccentricity < 1.0:
        raise OrbitsError(f"eccentricity {eccentricity} is outside [0, 1)")
    if not 0.0 < mean_motion_rev_per_day < 100.0:
        raise OrbitsError(f"mean motion {mean_motion_rev_per_day} rev/day is outside (0, 100)")
    epoch = epoch.astimezone(timezone.utc)
    year_start = datetime(epoch.year, 1, 1, tzinfo=timezone.utc)
    day = 1.0 + (epoch - year_start).total_seconds() / 86400.0
    satnum = _encode_satnum(norad_id)
    bstar_field = _exp_field(bstar)
    line1 = _with_checksum(
        f"1 {satnum}U 00000A   {epoch.year % 100:02d}{day:012.8f}  .00000000  00000-0 {bstar_field} 0  999"
    )
    ecc_digits = min(round(eccentricity * 1e7), 9999999)
    line2 = _with_checksum(
        f"2 {satnum} {inclination_deg:8.4f} {_angle(raan_deg, 'RAAN')} {ecc_digits:07d} "
        f"{_angle(arg_perigee_deg, 'argument of perigee')} {_angle(mean_anomaly_deg, 'mean anomaly')} "
        f"{mean_motion_rev_per_day:11.8f}    1"
    )
    return TLE(name, line1, line2)


def _exp_field(value: float) -> str:
    """TLE 'assumed decimal point' exponent notation, e.g. -2.4756e-4 -> '-24756-3'."""
    if value == 0.0:
        return " 00000-0"
    if not math.isfinite(value) or abs(value) >= 1.0:
        raise OrbitsError(f"BSTAR {value} must be finite with |BSTAR| < 1")
    exponent = math.floor(math.log10(abs(value))) + 1
    mantissa = round(abs(value) / 10.0**exponent * 1e5)
    if mantissa >= 100000:  # rounding carried into a new digit
        mantissa //= 10
        exponent += 1
    if exponent < -9:
        return " 00000-0"
    sign = "-" if value < 0 else " "
    return f"{sign}{mantissa:05d}{'-' if exponent < 0 else '+'}{abs(exponent)}"
