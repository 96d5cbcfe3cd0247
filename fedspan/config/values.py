"""The values a setting accepts: one parser per kind, shared by the command line and config files.

Each parser takes text from the command line or a value from TOML and returns the field's type, or raises
``ValueError`` saying why not; :class:`Choice` checks names against registries loaded on first use.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from fedspan.errors import FedSpanError
from fedspan.fileio import FAULTS_MAX_BYTES, loads_json, read_capped

if TYPE_CHECKING:  # optimization imports CVXPY: loaded only where a tree count is parsed
    from optimization.problem import TreeCount

#: The commands that read and write a config file, and so the names of its per-command tables.
COMMANDS = ("plan", "run", "compare")
#: Most rounds a run or plan may have (a year of rounds at a 10-minute cadence is 52,560).
MAX_ROUNDS = 1_000_000
#: Widest model a run may ask for (--model-width): an mlp of 4096 hidden units on 64x64x3 images has 50M parameters.
MAX_MODEL_WIDTH = 4096
#: Most local steps and largest mini-batch a run may ask for: a round of 10,000 steps of 100,000 samples on every
#: satellite is already days of CPU time; a larger request is a typo, refused before any work.
MAX_LOCAL_STEPS = 10_000
MAX_BATCH_SIZE = 100_000
#: Longest link-persistence window, s (one day): the ISL check samples it every minute for every satellite.
MAX_WINDOW_S = 86_400.0
PARTITIONS = ("iid", "dirichlet", "regional")
#: How rounds are timed. "cadence": round k starts at tick k * round_interval_s (or when round k - 1 ends, if
#: later), and the planner treats latency up to the tick as free. "back-to-back": each round starts when the
#: previous one ends (round_interval_s unused) and the planner prices latency by its weight.
SCHEDULES = ("cadence", "back-to-back")
#: How policies see batteries (``battery_planning``): "aware" plans within each battery's budget and sits out who
#: cannot pay; "ignore" plans as if batteries were unlimited (the batteries still charge and drain).
BATTERY_PLANNING = ("aware", "ignore")
BACKENDS = ("inprocess", "distributed")
#: How the planner chooses local steps and batch: for time to accuracy (a probe before round 0 fits the rounds-to-
#: target model; docs/convergence-bound.md), or by the convergence bound in its objective (the rule before).
KNOB_RULES = ("time-to-accuracy", "bound")
SCENARIO, LEARNING, RUN, OUTPUT = "Scenario", "Learning", "Run", "Options"


class ConfigError(FedSpanError):
    """A configuration file that cannot be read or names options that do not exist."""


class SimulationError(FedSpanError):
    """A simulation configuration that cannot run, named by its field."""


# --- parsers: text from the command line or a value from TOML -> the field's type -----------------
class Choice:
    """A value from a registry (loaded on first use), e.g. the strategy names; ValueError lists them."""

    def __init__(self, what: str, names: Callable[[], Iterable[str]],
                 accept: Callable[[str], bool] | None = None) -> None:
        self.what, self._names, self.accept = what, names, accept

    def names(self) -> tuple[str, ...]:
        """The valid names, as the registry holds them now (a newly registered one included)."""
        return tuple(self._names())

    def __call__(self, value: Any) -> str:
        text = str(value).strip()
        if text in self.names() or (self.accept is not None and self.accept(text)):
            return text
        raise ValueError(f"unknown {self.what} '{text}' (choose from {', '.join(self.names())})")


#: The built-in policies (tests keep this equal to what fedspan.strategies registers). The command line checks a
#: name against it without importing the strategies (torch, CVXPY), so a bad name is refused at once.
BUILTIN_STRATEGIES = ("bfs", "fedisl", "fedspan", "gossip", "mst", "random-tree", "replay", "ring", "star")


def _strategies() -> tuple[str, ...]:
    """The registry's names once the strategies are imported (user policies included), else the built-ins."""
    import sys

    if "fedspan.strategies.registry" not in sys.modules:
        return BUILTIN_STRATEGIES
    from fedspan.strategies import strategy_names

    return strategy_names()


def _datasets() -> tuple[str, ...]:
    from fedspan.data.registry import DATASET_NAMES

    return DATASET_NAMES


def _models() -> tuple[str, ...]:
    from fedspan.models import MODEL_NAMES

    return MODEL_NAMES


def _link_policies() -> tuple[str, ...]:
    from orbits.isl import POLICIES

    return POLICIES


def _presets() -> tuple[str, ...]:
    from orbits.walker import WALKER_PRESETS

    return tuple(sorted(WALKER_PRESETS))


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:
        return False


def _flower_strategy(text: str) -> bool:
    """``flower:<Class>``: a Flower strategy (flwr is imported only for such a name; ValueError if it is missing)."""
    if not text.startswith("flower:"):  # anything else is refused without importing the strategies
        return False
    from fedspan.strategies.flower import is_flower_name

    return is_flower_name(text)


STRATEGY = Choice("strategy", _strategies, accept=_flower_strategy)
PRESET = Choice("preset", _presets)
DATASET = Choice("dataset", _datasets, accept=lambda text: Path(text).exists())  # or a dataset file/folder
MODEL = Choice("model", _models)
PARTITION = Choice("partition", lambda: PARTITIONS)
LINK_POLICY = Choice("link policy", _link_policies)
BACKEND = Choice("backend", lambda: BACKENDS)


def parse_constellation(value: Any) -> str:
    """A Walker preset name or an existing TLE file."""
    text = str(value)
    if text in _presets() or _is_file(text):
        return text
    if Path(text).is_dir():
        raise ValueError(f"{text} is a directory, not a TLE file")
    raise ValueError(f"no such TLE file: {text} (nor a preset: {', '.join(_presets())})")


def parse_trees(value: Any) -> "TreeCount":
    """A TreeCount (``optimization.problem.parse_tree_count``): an integer >= 1 or "auto"."""
    from optimization.problem import parse_tree_count  # the one parser of K

    return parse_tree_count(value)


def parse_weights(value: Any) -> tuple[float, float, float]:
    """``"1,0.1,0.1"`` or ``[1, 0.1, 0.1]``: three non-negative numbers, not all zero."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        weights = tuple(float(v) for v in items if not isinstance(v, bool))
    except (TypeError, ValueError):
        weights = ()
    if len(weights) != 3 or not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise ValueError(f"'{value}' is not three non-negative numbers loss,energy,latency (e.g. 1,1,1)")
    return weights  # type: ignore[return-value]


def parse_time(value: Any) -> datetime:
    """An ISO-8601 time (``2024-05-12T00:00:00Z``); a time without a zone is UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"'{value}' is not an ISO-8601 time such as 2024-05-12T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_seed(value: Any) -> int:
    """An integer in 0 .. 2**63-1."""
    try:
        seed = -1 if isinstance(value, (bool, float)) else int(str(value).strip())
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**63:
        raise ValueError(f"'{value}' is not an integer seed in 0 .. 2**63-1")
    return seed


def positive(unit: str) -> Callable[[Any], float]:
    """A parser of a finite number > 0 in ``unit`` (a link budget or payload setting)."""
    def parse(value: Any) -> float:
        try:
            number = math.nan if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"'{value}' is not a finite number > 0 ({unit})")
        return number
    return parse


def parse_hardware(value: Any) -> str:
    """A built-in hardware profile name (``fedspan.hardware.PROFILES``) or an existing TOML profile file."""
    from fedspan.hardware.builtin import PROFILES

    text = str(value).strip()
    if text in PROFILES or (text and Path(text).is_file()):
        return text
    raise ValueError(f"{text!r} is neither a hardware profile ({', '.join(PROFILES)}) nor an existing TOML file")


def parse_fleet(value: Any) -> str | None:
    """A fleet: a CSV file (``satellite,profile[,data_scale][,battery_wh]``) or ``mix:NAME=W,NAME=W`` (seeded)."""
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("mix:"):
        parse_mix(text)
        return text
    if text and Path(text).is_file():
        return text
    raise ValueError(f"{text!r} is neither an existing fleet CSV file nor 'mix:NAME=WEIGHT,...'")


def parse_mix(text: str) -> dict[str, float]:
    """``mix:cubesat=0.5,smallsat-edge=0.5`` -> {profile: weight}; ValueError naming the bad part."""
    from fedspan.hardware.builtin import PROFILES

    weights: dict[str, float] = {}
    for part in text[len("mix:"):].split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in PROFILES:
            raise ValueError(f"fleet mix: {name!r} is not a hardware profile ({', '.join(PROFILES)})")
        try:
            w = float(weight)
        except ValueError:
            w = float("nan")
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"fleet mix: weight of {name!r} must be a finite number > 0, got {weight.strip()!r}")
        weights[name] = w
    return weights


def parse_existing_file(value: Any) -> str:
    """The path of an existing file."""
    if not _is_file(str(value)):
        raise ValueError(f"no such file: {value}")
    return str(value)


def parse_output_dir(value: Any) -> str:
    """An output folder; "" would silently mean the current folder, so it is refused."""
    if not str(value).strip():
        raise ValueError("must not be empty (write . for the current folder)")
    return str(value)


def parse_strategy_options(value: Any) -> dict[str, Any]:
    """A table (TOML) or ``key=value`` items (command line) with int, float, bool or text values."""
    if isinstance(value, Mapping):
        return dict(value)
    options: dict[str, Any] = {}
    for item in [value] if isinstance(value, str) else value or []:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"'{item}' is not key=value")
        options[key.strip()] = _scalar(text.strip())
    return options


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text.lower() == "true" if text.lower() in {"true", "false"} else text


def parse_faults(value: Any) -> list[dict[str, Any]]:
    """A fault schedule: a list of tables (TOML), or a JSON list, inline or in a file."""
    if isinstance(value, str):
        source = _json_source(value)
        try:
            value = loads_json(source)  # depth-limited: 100,000 nested brackets are an error line, not a crash
        except json.JSONDecodeError as exc:
            where = "" if source is value else f"{value}: "
            raise ValueError(f"{where}not a JSON list of faults: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(f, Mapping) for f in value):
        raise ValueError('expected a JSON list of objects such as [{"round": 2, "kind": "satellite", "satellite": 5}]')
    return [dict(f) for f in value]


def _json_source(text: str) -> str:
    looks_inline = text.lstrip().startswith(("[", "{"))  # inline JSON may be longer than any file name
    if looks_inline and len(text) < 4096:  # ... but a short "[...]" may also be a file name
        looks_inline = not _is_file(text)
    if looks_inline:
        return text
    try:
        return read_capped(text, FAULTS_MAX_BYTES).decode("utf-8")  # /dev/zero and huge files refused
    except UnicodeDecodeError as exc:
        raise ValueError(f"{text}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ValueError(f"{text}: neither a JSON list of faults nor a readable file ({exc.strerror or exc})") from None
