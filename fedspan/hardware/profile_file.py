"""Hardware profiles from TOML files, and the one lookup by name or file (:func:`hardware_profile`)."""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

from fedspan.fileio import read_or_raise
from fedspan.hardware.builtin import PROFILES
from fedspan.hardware.profiles import (MAX_PROFILE_FILE_BYTES, ComputeSpec, HardwareError,
                                       HardwareProfile, LinkSpec, PowerSpec)

# ----------------------------------------------------------------------------------------------------
# TOML profile files
# ----------------------------------------------------------------------------------------------------

_TOP_KEYS = ("name", "description", "base", "link_policy", "sources", "always_powered", "compute", "link", "power")
_TABLES: dict[str, type] = {"compute": ComputeSpec, "link": LinkSpec, "power": PowerSpec}


def _required(cls: type) -> list[str]:
    return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]


def _table(path: Path, raw: dict[str, Any], table: str, base: dict[str, Any] | None) -> dict[str, Any] | None:
    """The merged key -> value dict of one table (base values overridden by the file), keys checked."""
    cls = _TABLES[table]
    names = [f.name for f in fields(cls)]
    given = raw.get(table)
    if given is None:
        return base
    if not isinstance(given, dict):
        raise HardwareError(f"{path}: '{table}' must be a table ([{table}])")
    for key in given:
        if key not in names:
            raise HardwareError(f"{path}: unknown key '{table}.{key}' (valid: {', '.join(names)})")
    merged = dict(base or {})
    merged.update(given)
    missing = [n for n in _required(cls) if n not in merged]
    if missing:
        raise HardwareError(f"{path}: missing key '{table}.{missing[0]}'" + ("" if base else " (no base profile to inherit it from)"))
    return merged


def hardware_profile(name_or_path: str | Path) -> HardwareProfile:
    """A built-in profile by name (``PROFILES``), or the profile a TOML file describes.

    The file has top-level ``name``, ``description``, ``link_policy``, ``sources`` (list of strings),
    an optional ``base = "<built-in name>"`` whose values it overrides, ``always_powered = true`` to
    drop the power system, and ``[compute]``, ``[link]``, ``[power]`` tables with the fields of
    :class:`ComputeSpec`, :class:`LinkSpec` and :class:`PowerSpec`. Without a base every table
    (``[power]`` may be left out: always powered) needs all its keys. Unknown keys, missing keys,
    wrong types, non-finite or out-of-range values raise a one-line :class:`HardwareError` naming
    the file and the key; files over 64 KiB are refused before parsing.

    >>> hardware_profile("smallsat-edge").link.max_rate_bps / 1e9
    2.5
    """
    key = str(name_or_path)
    if key in PROFILES:
        return PROFILES[key]
    path = Path(name_or_path)
    if not path.is_file():
        raise HardwareError(f"unknown hardware profile {key!r}: not a built-in profile ({', '.join(PROFILES)}) "
                            "and not a TOML file")
    return _read_profile_file(path)


def _read_profile_file(path: Path) -> HardwareProfile:
    data = read_or_raise(path, MAX_PROFILE_FILE_BYTES, HardwareError, "profile file")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HardwareError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise HardwareError(f"{path}: invalid TOML: {exc}") from None
    for k in raw:
        if k not in _TOP_KEYS:
            raise HardwareError(f"{path}: unknown key '{k}' (valid: {', '.join(_TOP_KEYS)})")
    base: HardwareProfile | None = None
    if "base" in raw:
        if not isinstance(raw["base"], str) or raw["base"] not in PROFILES:
            raise HardwareError(f"{path}: base: {raw['base']!r} is not a built-in profile ({', '.join(PROFILES)})")
        base = PROFILES[raw["base"]]
    always_powered = raw.get("always_powered", False)
    if not isinstance(always_powered, bool):
        raise HardwareError(f"{path}: always_powered must be true or false, got {always_powered!r}")
    if always_powered and "power" in raw:
        raise HardwareError(f"{path}: always_powered = true and a [power] table contradict each other")
    tables: dict[str, dict[str, Any] | None] = {}
    for table in _TABLES:
        inherited = getattr(base, table) if base is not None else None
        tables[table] = _table(path, raw, table, asdict(inherited) if inherited is not None else None)
    for table in ("compute", "link"):
        if tables[table] is None:
            raise HardwareError(f"{path}: missing table [{table}] (and no base profile to inherit it from)")
    if always_powered:
        tables["power"] = None
    sources = raw.get("sources", list(base.sources) if base else [])
    if not isinstance(sources, list):
        raise HardwareError(f"{path}: sources must be a list of strings, got {sources!r}")
    try:
        specs = {t: (_TABLES[t](**v) if v is not None else None) for t, v in tables.items()}
        return HardwareProfile(
            name=raw.get("name", path.stem),
            description=raw.get("description", f"from {path.name}" + (f" (base {base.name})" if base else "")),
            compute=specs["compute"], link=specs["link"], power=specs["power"],
            link_policy=raw.get("link_policy", base.link_policy if base else "knn"),
            sources=tuple(sources),
        )
    except HardwareError as exc:
        raise HardwareError(f"{path}: {exc}") from None
