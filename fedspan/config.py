"""The one vocabulary of Fed-Span: ``SimulationConfig``, its TOML form, and what each entry point reads.

Every setting is a field of :class:`SimulationConfig` declared with :func:`setting` (default, help
text, help panel, old spellings, parser). From those declarations come

* the command-line options of ``fedspan plan``, ``run`` and ``compare`` (``--num-trees``; the old
  spellings such as ``--trees`` stay accepted), typed and checked at parse time,
* the keys of a config file (``num-trees = 2`` or ``num_trees = 2``), flat or in a ``[plan]``,
  ``[run]`` or ``[compare]`` table, read by :func:`read_config` for every command and for
  ``torchrun -m fedspan.distributed --config``,
* the ``config.toml`` each command writes next to its outputs (:func:`write_config`), which every
  other entry point accepts back, and the typed ``options`` of ``plan.json``.

A key a command does not use (``faults`` for ``plan``, ``strategies`` for ``run``) is accepted and
ignored (see :func:`ignored_keys`); an unknown key is a one-line error naming it and the valid ones.
This module imports neither torch nor CVXPY: the registries behind choices load when first asked.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from fedspan.errors import FedSpanError
from fedspan.fileio import CONFIG_MAX_BYTES, FAULTS_MAX_BYTES, loads_json, read_capped, read_or_raise

if TYPE_CHECKING:  # optimization imports CVXPY: loaded only where a tree count is parsed
    from optimization.problem import TreeCount

#: The commands that read and write a config file, and so the names of its per-command tables.
COMMANDS = ("plan", "run", "compare")
#: Most rounds a run or plan may have (a year of rounds at a 10-minute cadence is 52,560).
MAX_ROUNDS = 1_000_000
#: Widest model a run may ask for (--model-width): an mlp of 4096 hidden units on 64x64x3 images has 50M parameters.
MAX_MODEL_WIDTH = 4096
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


# --- the vocabulary ------------------------------------------------------------------------------
def setting(default: Any = MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
            panel: str = SCENARIO, aliases: tuple[str, ...] = (), flags: tuple[str, ...] = (),
            parse: Callable[[Any], Any] | None = None, ignored_by: tuple[str, ...] = (),
            metavar: str | None = None, **option: Any) -> Any:
    """A SimulationConfig field with what the command line and config files need to know about it.

    ``help``: the option's help text; ``panel``: its help section; ``aliases``: old names still
    accepted (command line and config files); ``flags``: short forms such as ``-o``; ``parse``: text or
    a TOML value -> the field's type (``ValueError`` says why not); ``ignored_by``: commands that do not
    use it (no option there; a config key is accepted and ignored); ``option``: typer's ``min``/``max``.
    """
    metadata = {"help": help, "panel": panel, "aliases": aliases, "flags": flags, "parse": parse,
                "ignored_by": frozenset(ignored_by), "metavar": metavar, "option": option}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


_NOT_PLANNED = ("plan",)  # run-time settings the planner never sees


@dataclass
class SimulationConfig:
    """Everything a run depends on; defaults give a quick 66-satellite Fed-Span run on digits."""

    constellation: str = setting("small", "TLE file (2- or 3-line, e.g. from CelesTrak) or Walker preset name.",
                                 flags=("-c",), parse=parse_constellation, metavar="FILE|PRESET")
    skip_bad_tles: bool = setting(False, "Drop malformed TLE records (counted in a warning) instead of stopping "
                                  "at the first one.")
    rounds: int = setting(10, "Number of rounds.", min=1, max=MAX_ROUNDS)
    round_interval_s: float = setting(600.0, "Seconds between round starts (the cadence).",
                                      aliases=("round_interval",), parse=positive("s"))
    schedule: str = setting("cadence", "cadence: a round starts every --round-interval-s and the planner spends the "
                            "slack up to the next tick (more local steps, slower clocks); back-to-back: each round "
                            "starts when the previous ends and the planner prices latency.",
                            parse=Choice("schedule", lambda: SCHEDULES))
    start: datetime | None = setting(None, "Start time, ISO-8601 UTC (default: the newest TLE epoch).",
                                     parse=parse_time, metavar="ISO-8601")
    dataset: str = setting("digits", "Dataset name, or the path of a dataset file/folder.", panel=LEARNING,
                           parse=DATASET)
    data_root: str | None = setting(None, "Folder/file of a downloaded dataset.", panel=LEARNING, metavar="PATH")
    max_train: int | None = setting(None, "Use at most this many training samples.", panel=LEARNING, min=1)
    max_test: int | None = setting(None, "Use at most this many test samples.", panel=LEARNING, min=1)
    partition: str = setting("iid", "Data split; regional: time-varying data from the regions overflown.",
                             panel=LEARNING, parse=PARTITION)
    alpha: float = setting(0.5, "Dirichlet concentration (dirichlet, regional).", panel=LEARNING, min=1e-6)
    data_ttl_s: float | None = setting(None, "Regional: sample lifetime in s (default 3 round intervals).",
                                       panel=LEARNING, parse=positive("s"))
    arrival_rate: float = setting(0.05, "Regional: samples per second while over a region.", panel=LEARNING,
                                  min=0.0)
    model: str = setting("mlp", "Model trained on every satellite.", panel=LEARNING, parse=MODEL)
    model_width: int | None = setting(None, "Width of --model: hidden units of mlp, base channels of cnn, cnn-large "
                                      "and resnet (default: the model's own, docs in fedspan.models.make_model). "
                                      "mlp at 1280 on 28x28 images has 1.02M parameters.", panel=LEARNING, min=1,
                                      max=MAX_MODEL_WIDTH)
    lr: float = setting(0.05, "Local SGD learning rate.", panel=LEARNING, min=1e-9)
    local_steps: int = setting(5, "Default local steps e (Fed-Span optimises it).", panel=LEARNING, min=1)
    batch_size: int = setting(32, "Default mini-batch B (Fed-Span optimises it).", panel=LEARNING, min=1)
    strategy: str = setting("fedspan", "Aggregation policy.", panel=OUTPUT, parse=STRATEGY, ignored_by=("compare",))
    strategy_options: dict[str, Any] = setting(
        help="Policy option key=value, repeatable (a table in a config file). fedspan takes num_trees, mix_every, "
             "sca_iters (SCA iterations) and search_time_s (seconds of local search per round; default 1 s + 1 s "
             "per 1000 satellites, at most 20 s); mst, bfs, random-tree and fedisl take power=default|dvfs|exact (full "
             "clock; exact clocks and powers with the run's steps and batch; exact clocks, powers, steps and batch), "
             "ring, gossip and star power=default|dvfs (dvfs: each clock the slowest that keeps the round's time or "
             "deadline, never below the energy-optimal clock).",
        factory=dict, panel=OUTPUT, aliases=("strategy_option",), parse=parse_strategy_options, metavar="KEY=VALUE")
    num_trees: TreeCount = setting(1, "Trees K of the spanning forest, or 'auto' (the planner picks K each round; "
                             "trees merge into one model).", aliases=("trees",), parse=parse_trees, metavar="K|auto")
    mix_every: int = setting(1, "Mix cluster models every this many rounds (K > 1; 0: never).", panel=LEARNING,
                             min=0)
    # Learning first: at equal weights the normalised energy and latency terms make the planner choose
    # one local step of the smallest batch, which is cheap per round but learns slowly.
    weights: tuple[float, float, float] = setting(
        (1.0, 0.1, 0.1), "Objective weights loss,energy,latency, each term normalised by the distance-MST round "
        "with default resources (default 1,0.1,0.1: learning first).", parse=parse_weights, metavar="L,E,T")
    smoothness: float = setting(0.1, "Smoothness beta of the loss in the convergence bound (with --lr it caps the "
                                "planner's local steps: e <= 1/(8 beta lr)).", panel=LEARNING, min=1e-9)
    calibrate: bool = setting(False, "Probe the model and the satellites' data before round 0 and plan with the "
                              "measured constants instead of the defaults.", panel=LEARNING, ignored_by=_NOT_PLANNED)
    calibrate_every: int = setting(0, "With --calibrate: probe again every N rounds on the current model and data "
                                   "(the constants follow training and drifting data); 0: only before round 0.",
                                   panel=LEARNING, ignored_by=_NOT_PLANNED, min=0)
    knobs: str = setting("time-to-accuracy", "How local steps and batch are planned: time-to-accuracy (a probe "
                         "before round 0 fits rounds to target against e and B; the planner minimises time and energy "
                         "to the target, the bound is reported as a certificate) or bound (the convergence bound in the "
                         "objective chooses them). fedspan plan has no model to probe and uses bound.",
                         panel=LEARNING, parse=Choice("knob rule", lambda: KNOB_RULES), ignored_by=_NOT_PLANNED)
    terminals: int = setting(4, "Laser terminals per satellite (tree degree limit).", min=1, max=64)
    rate_cap_bps: float = setting(10e9, "Laser terminal rate cap in bit/s.", aliases=("rate_cap",),
                                  parse=positive("bit/s"))
    tx_power_w: float = setting(2.0, "Maximum laser transmit power per terminal in W.", aliases=("tx_power",),
                                parse=positive("W"))
    aperture_m: float = setting(0.10, "Laser telescope diameter of both terminals in m.", aliases=("aperture",),
                                parse=positive("m"))
    hardware: str = setting("paper", "Satellite hardware: a profile (paper, cubesat, smallsat-edge, broadband, "
                            "iridium-rf; docs/physical-model.md) or a TOML profile file. It sets the computer (FLOPs "
                            "of --model on it, static power), the link technology and the battery; the laser options "
                            "above apply to paper only.", parse=parse_hardware, metavar="NAME|FILE")
    fleet: str | None = setting(None, "Satellites that differ: a CSV (satellite,profile[,data_scale][,battery_wh]) "
                                "or mix:NAME=W,NAME=W (a seeded mix of profiles).", parse=parse_fleet,
                                metavar="FILE|mix:...")
    model_bits: float | None = setting(None, "Bits sent per model transfer, for planning and the simulated clock "
                                       "(e.g. 1e9; default: the size of --model, which is what is trained).",
                                       parse=positive("bits"))
    link_policy: str = setting("knn", "Candidate ISLs: knn (k nearest feasible) or grid (+Grid).", parse=LINK_POLICY)
    neighbors: int = setting(8, "k of the knn link policy.", min=1)
    window_s: float | None = setting(None, "A link must last this long, s (default: the previous round's latency).",
                                     min=0.0, max=MAX_WINDOW_S)
    ground_stations: str | None = setting(None, "CSV of ground stations (name,lat,lon[,alt_km,min_elev_deg]).",
                                          parse=parse_existing_file, metavar="FILE")
    roots_see_ground: bool = setting(False, "Roots must see a ground station.")
    seed: int = setting(0, "Random seed, 0 .. 2**63-1 (data split, initial model, mini-batches).", parse=parse_seed)
    backend: str = setting("inprocess", "inprocess, or distributed (under torchrun).", panel=RUN, parse=BACKEND,
                           ignored_by=_NOT_PLANNED)
    faults: list[dict[str, Any]] = setting(help="Fault schedule: JSON list or file (see docs/failure-model.md); "
                                           "[[faults]] tables in a config file.", factory=list, panel=RUN,
                                           parse=parse_faults, ignored_by=_NOT_PLANNED, metavar="JSON|FILE")
    fault_rate: float = setting(0.0, "Random fault probability per satellite and round.", panel=RUN, min=0.0,
                                max=0.999, ignored_by=_NOT_PLANNED)
    battery_planning: str = setting("aware", "With a battery (--hardware): aware plans every round within what each "
                                    "battery can give and sits out a satellite that cannot pay; ignore plans as if "
                                    "batteries were unlimited (they still charge and drain; metrics count "
                                    "battery_violations, satellites ending a round below their depth-of-discharge "
                                    "floor).", panel=RUN, parse=Choice("battery planning", lambda: BATTERY_PLANNING),
                                    ignored_by=_NOT_PLANNED)
    energy_budget_j: float = setting(math.inf, "Battery per satellite for the whole run, J.", panel=RUN,
                                     aliases=("energy_budget",), min=0.0, ignored_by=_NOT_PLANNED)
    stop_at_accuracy: float | None = setting(None, "Stop after the first round whose test accuracy reaches this "
                                             "(0 < A <= 1); --rounds stays the cap and the planning horizon, so the "
                                             "rounds run are those of a full run.", panel=RUN, min=1e-9, max=1.0,
                                             ignored_by=_NOT_PLANNED, metavar="A")
    output_dir: str | None = setting(None, "Output folder.", panel=OUTPUT, aliases=("out",), flags=("-o",),
                                     parse=parse_output_dir, metavar="DIR")
    resume: bool = setting(True, "Resume from the output folder's checkpoint if there is one.", panel=RUN,
                           ignored_by=("plan", "compare"))

    def validate(self) -> None:
        """Raise SimulationError naming the first bad field."""
        checks = [
            (isinstance(self.rounds, int) and 1 <= self.rounds <= MAX_ROUNDS, "rounds",
             f"must be an integer in 1 .. {MAX_ROUNDS}"),
            (self.max_train is None or self.max_train >= 1, "max_train", "must be an integer >= 1"),
            (self.max_test is None or self.max_test >= 1, "max_test", "must be an integer >= 1"),
            (self.model_width is None or (isinstance(self.model_width, int) and 1 <= self.model_width
                                          <= MAX_MODEL_WIDTH), "model_width", f"must be an integer in 1 .. {MAX_MODEL_WIDTH}"),
            (self.stop_at_accuracy is None or 0 < self.stop_at_accuracy <= 1, "stop_at_accuracy",
             "must be a number in (0, 1]"),
            (math.isfinite(self.round_interval_s) and self.round_interval_s > 0, "round_interval_s",
             "must be a finite number > 0"),
            (isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**63, "seed",
             "must be an integer in 0 .. 2**63-1"),
            (self.partition in PARTITIONS, "partition", f"must be one of {', '.join(PARTITIONS)}"),
            (self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}"),
            (self.battery_planning in BATTERY_PLANNING, "battery_planning",
             f"must be one of {', '.join(BATTERY_PLANNING)}"),
            (self.alpha > 0, "alpha", "must be > 0"),
            (math.isfinite(self.lr) and self.lr > 0, "lr", "must be a finite number > 0"),
            (math.isfinite(self.smoothness) and self.smoothness > 0, "smoothness", "must be a finite number > 0"),
            (self.local_steps >= 1, "local_steps", "must be >= 1"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (_parses(parse_trees, self.num_trees), "num_trees", "must be an integer >= 1 or 'auto'"),
            (1 <= self.terminals <= 64, "terminals", "must be an integer in 1 .. 64"),
            (_positive(self.rate_cap_bps), "rate_cap_bps", "must be a finite number > 0 (bit/s)"),
            (_positive(self.tx_power_w), "tx_power_w", "must be a finite number > 0 (W)"),
            (_positive(self.aperture_m) and self.aperture_m <= 10.0, "aperture_m",
             "must be a finite number in (0, 10] (m; the link budget's gain overflows past that)"),
            (self.model_bits is None or _positive(self.model_bits), "model_bits", "must be a finite number > 0 (bits)"),
            (self.mix_every >= 0, "mix_every", "must be >= 0 (0: never mix)"),
            (len(self.weights) == 3 and all(w >= 0 for w in self.weights), "weights",
             "must be three non-negative numbers (loss, energy, latency)"),
            (self.backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)}"),
            (0.0 <= self.fault_rate < 1.0, "fault_rate", "must be in [0, 1)"),
            (self.energy_budget_j > 0, "energy_budget_j", "must be > 0"),
            (self.window_s is None or 0 <= self.window_s <= MAX_WINDOW_S, "window_s",
             f"must be in [0, {MAX_WINDOW_S:g}] (s; the window is sampled every minute)"),
            (isinstance(self.calibrate, bool), "calibrate", "must be true or false"),
            (self.knobs in KNOB_RULES, "knobs", f"must be one of {', '.join(KNOB_RULES)}"),
        ]
        for ok, name, why in checks:
            if not ok:
                raise SimulationError(f"--{key_name(name)} ({name} in a config file) = {getattr(self, name)!r} {why}")
        if self.data_root is None and str(self.dataset).lower() != "digits":
            from fedspan.data.registry import DATASET_NAMES

            if str(self.dataset).lower() in DATASET_NAMES:  # a name, not a path: its files are needed
                raise SimulationError(f"config.dataset = {self.dataset!r} is read from files: give their folder or "
                                      f"file with --data-root PATH (data-root in a config file)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the configuration."""
        d = asdict(self)
        d["start"] = self.start.isoformat() if self.start else None
        d["weights"] = list(self.weights)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SimulationConfig":
        """Build from a dict (e.g. a TOML table); unknown keys are named in the error."""
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise SimulationError(f"unknown simulation option(s) {', '.join(unknown)}")
        data = dict(data)
        if isinstance(data.get("start"), str):
            data["start"] = datetime.fromisoformat(data["start"])
        if "weights" in data:
            data["weights"] = tuple(data["weights"])
        return cls(**data)

    def fingerprint(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed.

        The round count may grow only for policies whose rounds do not depend on it: Fed-Span's
        planner (and any policy not known to ignore it) sees ``rounds`` through the convergence
        bound, so extending such a run would not equal a straight run, and it is refused.
        """
        d = self.to_dict()
        for key in ("output_dir", "resume") if plans_with_horizon(self.strategy) else ("rounds", "output_dir", "resume"):
            d.pop(key)
        if not d.get("calibrate"):  # checkpoints written before the option existed stay resumable
            d.pop("calibrate", None)
        if not d.get("calibrate_every"):
            d.pop("calibrate_every", None)
        if d.get("knobs") == "bound":  # checkpoints written before the option (the bound's knobs) stay resumable
            d.pop("knobs", None)
        if d.get("hardware") == "paper":  # checkpoints written before hardware profiles stay resumable
            d.pop("hardware", None)
        if d.get("fleet") is None:
            d.pop("fleet", None)
        if d.get("model_width") is None:  # checkpoints written before the option existed stay resumable
            d.pop("model_width", None)
        d.pop("stop_at_accuracy", None)  # where a run stops changes no round: a resumed run may move it
        if d.get("battery_planning") == "aware":  # checkpoints written before the switch stay resumable
            d.pop("battery_planning", None)
        return d


#: The settings by name, in declaration order.
FIELDS: dict[str, Field] = {f.name: f for f in fields(SimulationConfig)}

#: Keys a config file may hold besides the fields: ``preset`` (a constellation given as a preset),
#: ``strategies`` (compare's policies) and ``plan`` (run's plan.json to replay).
EXTRA_KEYS: dict[str, frozenset[str]] = {"preset": frozenset(), "strategies": frozenset({"plan", "run"}),
                                         "plan": frozenset({"plan", "compare"})}

#: Built-in policies whose rounds do not depend on the number of rounds of the run.
HORIZON_FREE_POLICIES = frozenset({"mst", "bfs", "random-tree", "star", "fedisl", "ring", "gossip", "replay"})


def plans_with_horizon(strategy: str) -> bool:
    """Whether a policy's plans may depend on ``rounds`` (Fed-Span, and unknown policies to be safe)."""
    return strategy not in HORIZON_FREE_POLICIES


def _positive(value: Any) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


def _parses(parse: Callable[[Any], Any], value: Any) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def key_name(name: str) -> str:
    """How a setting is written in a config file and on the command line: ``num_trees`` -> ``num-trees``."""
    return name.replace("_", "-")


def ignored_keys(command: str) -> tuple[str, ...]:
    """The keys ``command`` accepts in a config file but does not use."""
    fields_ = [n for n, f in FIELDS.items() if command in f.metadata["ignored_by"]]
    return tuple(key_name(n) for n in fields_ + [k for k, cmds in EXTRA_KEYS.items() if command in cmds])


def _canonical(key: str) -> str | None:
    """The setting a config key names (its field name, an old alias, or an extra key), or None."""
    name = key.strip().replace("-", "_")
    if name in FIELDS or name in EXTRA_KEYS:
        return name
    return next((n for n, f in FIELDS.items() if name in f.metadata["aliases"]), None)


def parse_setting(name: str, value: Any) -> Any:
    """A value of setting ``name`` (text or TOML) as the field's type; ValueError says why not."""
    parse = FIELDS[name].metadata["parse"]
    if parse is not None:
        return parse(value)
    kind = field_type(FIELDS[name])
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{value!r} is not a number")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"{value!r} is not an integer")
    typed = kind(value) if kind in (int, float, str) else value
    bounds = FIELDS[name].metadata["option"]  # the command line's min/max hold for config files too
    if kind in (int, float) and "min" in bounds and not typed >= bounds["min"]:
        raise ValueError(f"{value!r} is below the minimum {bounds['min']}")
    if kind in (int, float) and "max" in bounds and not typed <= bounds["max"]:
        raise ValueError(f"{value!r} is above the maximum {bounds['max']}")
    return typed


def field_type(f: Field) -> type:
    """int, float, bool or str from a field's (string) annotation such as ``int | None``."""
    head = str(f.type).split("|")[0].strip()
    return {"int": int, "float": float, "bool": bool}.get(head, str)


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
