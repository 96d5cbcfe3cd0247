"""TOML configuration for the CLI: every command option can come from a file.

A config file holds flat ``key = value`` pairs named like the options (``rounds = 10``,
``round-interval = 600`` or ``round_interval = 600``), optionally overridden per command by a
table (``[plan]``, ``[run]``, ``[compare]``). Options given on the command line win over the file.
The options a command actually used are written back next to its outputs (``config.toml``), so
``--config that/config.toml`` reproduces the run.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Iterable, Mapping

from fedspan.errors import FedSpanError


class ConfigError(FedSpanError):
    """A configuration file that cannot be read or names options that do not exist."""


def _normalise(key: str) -> str:
    return key.strip().replace("-", "_")


def read_config(path: Path, command: str, known: Iterable[str]) -> dict[str, Any]:
    """Read the options for ``command`` from a TOML file, rejecting unknown keys by name."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    known = set(known)
    tables = {name for name, value in raw.items() if isinstance(value, dict)}
    merged: dict[str, Any] = {k: v for k, v in raw.items() if k not in tables}
    if command in tables:
        merged.update(raw[command])
    options = {_normalise(k): v for k, v in merged.items()}
    unknown = sorted(set(options) - known)
    if unknown:
        listing = ", ".join(sorted(k.replace("_", "-") for k in known))
        raise ConfigError(f"{path}: unknown option(s) for '{command}': "
                          f"{', '.join(u.replace('_', '-') for u in unknown)} (known: {listing})")
    return options


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
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def write_config(path: Path, command: str, options: Mapping[str, Any]) -> Path:
    """Write the options a command ran with as a TOML file that ``--config`` accepts back."""
    path = Path(path)
    lines = [f"# Options of `fedspan {command}`; rerun with: fedspan {command} --config {path.name}"]
    for key in sorted(options):
        value = options[key]
        if value is None or key in {"config", "debug"}:
            continue
        lines.append(f"{key.replace('_', '-')} = {_toml_value(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
