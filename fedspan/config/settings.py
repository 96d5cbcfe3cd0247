"""The settings: :class:`SimulationConfig`, each field declared once with :func:`setting`, and its lookups."""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from fedspan.config.values import (
    BACKEND, BACKENDS, BATTERY_PLANNING, DATASET, KNOB_RULES, LEARNING, LINK_POLICY, MAX_BATCH_SIZE, MAX_LOCAL_STEPS,
    MAX_MODEL_WIDTH, MAX_ROUNDS, MAX_WINDOW_S, MODEL, OUTPUT, PARTITION, PARTITIONS, RUN, SCENARIO, SCHEDULES, STRATEGY, Choice,
    SimulationError, parse_constellation, parse_existing_file, parse_faults, parse_fleet, parse_hardware,
    parse_output_dir, parse_seed, parse_strategy_options, parse_time, parse_trees, parse_weights, positive,
)

if TYPE_CHECKING:  # optimization imports CVXPY: loaded only where a tree count is parsed
    from optimization.problem import TreeCount


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
    local_steps: int = setting(5, "Default local steps e (Fed-Span optimises it).", panel=LEARNING, min=1,
                               max=MAX_LOCAL_STEPS)
    batch_size: int = setting(32, "Default mini-batch B (Fed-Span optimises it).", panel=LEARNING, min=1,
                              max=MAX_BATCH_SIZE)
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
    refit_knobs_every: int = setting(0, "With --knobs time-to-accuracy: fit the exponents of steps and batch again "
                                     "every N rounds, by the same probe trial on the current global model and data "
                                     "(what a local step is worth changes as training goes on); 0: only before round "
                                     "0.", panel=LEARNING, ignored_by=_NOT_PLANNED, min=0, max=MAX_ROUNDS)
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
            (1 <= self.local_steps <= MAX_LOCAL_STEPS, "local_steps", f"must be an integer in 1 .. {MAX_LOCAL_STEPS}"),
            (1 <= self.batch_size <= MAX_BATCH_SIZE, "batch_size", f"must be an integer in 1 .. {MAX_BATCH_SIZE}"),
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
            (isinstance(self.refit_knobs_every, int) and 0 <= self.refit_knobs_every <= MAX_ROUNDS,
             "refit_knobs_every", f"must be an integer in 0 .. {MAX_ROUNDS} (0: only before round 0)"),
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
        if not d.get("refit_knobs_every"):  # checkpoints written before the option stay resumable
            d.pop("refit_knobs_every", None)
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
