"""Config files: reading a TOML file for a command (:func:`read_config`) and writing ``config.toml``."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

from fedspan.fileio import CONFIG_MAX_BYTES, read_or_raise
from fedspan.config.values import (
    COMMANDS, PRESET, ConfigError,
)
from fedspan.config.settings import (
    EXTRA_KEYS, FIELDS, SimulationConfig, _canonical, ignored_keys, key_name, parse_setting,
)


def read_config(path: Path, command: str) -> dict[str, Any]:
    """The settings a TOML file gives ``command`` (field names -> raw values), unknown keys refused by name.

    Flat keys apply to every command; a ``[plan]``, ``[run]`` or ``[compare]`` table adds to (and
    overrides) them for that command only. Keys may use dashes or underscores and the old names.
    """
    path = Path(path)
    data = read_or_raise(path, CONFIG_MAX_BYTES, ConfigError, "config file")  # capped; no /dev/zero
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except RecursionError:  # tomllib is recursive: arrays nested thousands deep
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    merged = {k: v for k, v in raw.items() if k not in COMMANDS}
    for section in COMMANDS:
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"{path}: '{section}' must be a table of options for `fedspan {section}`")
    merged.update(raw.get(command, {}))
    options: dict[str, Any] = {}
    for key, value in merged.items():
        name = _canonical(key)
        if name is None:
            valid = ", ".join(key_name(n) for n in [*FIELDS, *EXTRA_KEYS])
            raise ConfigError(f"{path}: unknown option '{key_name(key)}' for '{command}' (valid: {valid})")
        options[name] = value
    return options


def config_from_file(path: Path, command: str, **overrides: Any) -> SimulationConfig:
    """The SimulationConfig a TOML file describes for ``command`` (keys it ignores dropped), checked."""
    options = read_config(path, command)
    values: dict[str, Any] = {}
    for name, value in options.items():
        if name in EXTRA_KEYS or command in FIELDS[name].metadata["ignored_by"]:
            continue
        try:
            values[name] = parse_setting(name, value)
        except ValueError as exc:
            raise ConfigError(f"{path}: {key_name(name)}: {exc}") from None
    if "preset" in options and "constellation" not in values:
        try:
            values["constellation"] = PRESET(options["preset"])
        except ValueError as exc:
            raise ConfigError(f"{path}: preset: {exc}") from None
    if options.get("plan") and command == "run":
        values.update(strategy="replay", strategy_options={"plan_file": str(options["plan"])})
    values.update(overrides)
    config = SimulationConfig(**values)
    config.validate()
    return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def write_config(path: Path, command: str, config: SimulationConfig, extras: Mapping[str, Any] | None = None,
                 notes: Sequence[str] = ()) -> Path:
    """Write the settings a command ran with as a TOML file that every entry point accepts back.

    ``notes`` become comment lines after the header (e.g. the knobs each method actually used), so the
    file stays readable by every entry point.
    """
    from fedspan.fileio import atomic_write_text

    path = Path(path)
    values = {**config.to_dict(), **(extras or {})}
    lines = [f"# Settings of `fedspan {command}`; rerun with: fedspan {command} --config {path.name}",
             f"# Accepted by plan, run, compare and fedspan.distributed; {command} ignores: "
             f"{', '.join(ignored_keys(command)) or 'nothing'}"]
    lines += [f"# {line}" for note in notes for line in str(note).splitlines()]
    for name, value in values.items():
        if value is None or (name in FIELDS and command in FIELDS[name].metadata["ignored_by"]):
            continue
        lines.append(f"{key_name(name)} = {_toml_value(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, "\n".join(lines) + "\n", fsync=False)
