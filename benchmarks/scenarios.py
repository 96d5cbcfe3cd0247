"""Benchmark scenarios and methods: what the suite runs in its default and ``--quick`` modes.

A scenario fixes the constellation, dataset, partition, round cadence, rounds and seeds; every
method of the comparison runs it with the same seeds. Datasets and TLE files from the shared
data folder are optional: a scenario whose data is absent is skipped with a reason.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: Back-to-back rounds: the next round starts when the previous one has finished, so the
#: simulated clock is the sum of round latencies and idle times (SimulationConfig needs > 0).
BACK_TO_BACK_S = 1e-3

#: Files each optional dataset / constellation needs inside the shared data folder.
SHARED_FILES: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz"),
    "fashion-mnist": ("fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/t10k-images-idx3-ubyte.gz"),
    "satimage": ("satimage/sat.trn", "satimage/sat.tst"),
    "eurosat": ("eurosat",),
    "starlink-2024-05.tle": ("starlink-2024-05.tle",),
}
#: The folder inside the shared data folder that a dataset loader reads (its ``data_root``).
DATA_SUBDIR = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "satimage": "satimage", "eurosat": "eurosat"}


def shared_data_dir() -> Path:
    """The real-data folder, found like tests/conftest.py: $FEDSPAN_SHARED_DATA or <repo>/../shared/data."""
    env = os.environ.get("FEDSPAN_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def missing_shared(key: str, data_dir: Path) -> str | None:
    """Why ``key`` (a dataset or TLE name) cannot be used from ``data_dir``, or None when it can."""
    needed = SHARED_FILES.get(key)
    if needed is None:
        return None  # bundled (digits) or a Walker preset
    absent = [name for name in needed if not (data_dir / name).exists()]
    return f"{data_dir / absent[0]} not present" if absent else None


@dataclass(frozen=True)
class Method:
    """One column of the comparison: a registered strategy with its tree count."""

    label: str
    strategy: str
    num_trees: int = 1
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def is_fedspan(self) -> bool:
        """Whether this is the optimizer (the method the others are compared against)."""
        return self.strategy == "fedspan"


@dataclass(frozen=True)
class Scenario:
    """A constellation x dataset x partition setting, run for ``rounds`` rounds with each seed."""

    name: str
    constellation: str  # Walker preset or a file name inside the shared data folder
    dataset: str
    partition: str = "iid"
    alpha: float = 0.3
    rounds: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)
    max_train: int | None = None
    max_test: int | None = 2000
    round_interval_s: float = BACK_TO_BACK_S
    model: str = "mlp"
    methods: tuple[str, ...] | None = None  # method labels; None: all
    note: str = ""

    def requirements(self) -> tuple[str, ...]:
        """Shared-data keys this scenario needs."""
        return (self.dataset, Path(self.constellation).name)

    def unavailable(self, data_dir: Path) -> str | None:
        """Why the scenario cannot run here, or None."""
        for key in self.requirements():
            why = missing_shared(key, data_dir)
            if why:
                return why
        return None

    def constellation_path(self, data_dir: Path) -> str:
        """A preset name as is, a shared TLE file as its full path."""
        return str(data_dir / self.constellation) if self.constellation.endswith(".tle") else self.constellation

    def config_dict(self, method: Method, seed: int, data_dir: Path) -> dict[str, Any]:
        """Keyword arguments of ``SimulationConfig`` for one run."""
        return {"constellation": self.constellation_path(data_dir), "rounds": self.rounds,
                "round_interval_s": self.round_interval_s, "dataset": self.dataset,
                "data_root": str(data_dir / DATA_SUBDIR[self.dataset]) if self.dataset in DATA_SUBDIR else None,
                "max_train": self.max_train, "max_test": self.max_test, "partition": self.partition,
                "alpha": self.alpha, "model": self.model, "strategy": method.strategy,
                "strategy_options": dict(method.options), "num_trees": method.num_trees, "seed": seed}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description."""
        return asdict(self)


@dataclass
class Suite:
    """Everything one invocation of run_all.py does."""

    mode: str
    methods: tuple[Method, ...]
    scenarios: tuple[Scenario, ...]
    k_values: tuple[int, ...]
    k_sweep: Scenario
    weight_grid: tuple[tuple[float, float, float], ...]
    weights_sweep: Scenario
    sizes: tuple[int, ...]  # Walker-53 deg shells (satellites) for planner time vs constellation size
    speed_flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    speed_timeout_s: float = 600.0  # per layer benchmark; a timed-out one keeps the ratios printed so far
    target_fraction: float = 0.8

    def methods_for(self, scenario: Scenario) -> tuple[Method, ...]:
        """The methods a scenario runs (all unless it names a subset)."""
        if scenario.methods is None:
            return self.methods
        return tuple(m for m in self.methods if m.label in scenario.methods)


def methods(msf_trees: int = 3) -> tuple[Method, ...]:
    """Fed-Span as one tree and as an MSF, then every baseline of the learning layer."""
    return (Method("Fed-Span K=1", "fedspan", 1), Method(f"Fed-Span MSF K={msf_trees}", "fedspan", msf_trees),
            Method("distance MST", "mst"), Method("BFS tree", "bfs"), Method("random tree", "random-tree"),
            Method("star FedAvg (ground)", "star"), Method("FedISL plane relay", "fedisl"),
            Method("plane ring all-reduce", "ring"), Method("gossip (D-PSGD)", "gossip"))


def quick_suite() -> Suite:
    """CI smoke: one tiny scenario, one seed, two rounds, small sweeps; well under 3 minutes."""
    tiny = Scenario("small66-digits-iid", "small", "digits", "iid", rounds=2, seeds=(0,), max_train=600,
                    max_test=300)
    return Suite(mode="quick", methods=methods(), scenarios=(tiny,), k_values=(1, 3), k_sweep=tiny,
                 weight_grid=((1.0, 1.0, 1.0), (0.0, 0.0, 1.0)),
                 weights_sweep=Scenario("weights", "small", "digits", rounds=1, seeds=(0,), max_train=600,
                                        max_test=300),
                 sizes=(66,), speed_timeout_s=30.0,
                 speed_flags={"bench_orbits.py": ("--quick",), "bench_planner.py": ("--quick",),
                              "bench_training.py": ("--quick",)})


def default_suite() -> Suite:
    """The README's numbers: sized to finish in about 30 minutes on 2 shared cores.

    A Fed-Span round re-plans with CVXPY (about 4 s for 66 satellites, 20 s for 1584, 50 s for the
    real 5236 on 2 cores), so the 66-satellite Fashion-MNIST and Landsat scenarios run Fed-Span K=1
    without the MSF, and the real 5236-satellite scenario (one seed) runs every method but gossip.
    """
    base = dict(constellation="small", rounds=4, seeds=(0, 1, 2))
    all_methods = methods()
    labels = [m.label for m in all_methods]
    without_msf = tuple(label for label in labels if "MSF" not in label)
    # A Fed-Span plan of the 1584-satellite shell takes ~20 s on 2 cores (5236: ~50 s). Gossip keeps
    # and mixes one model per satellite (~100 s per 1584-satellite run), so the real 5236 scenario,
    # one seed, runs every method but gossip to keep the suite under 30 minutes.
    no_gossip = tuple(label for label in labels if label != "gossip (D-PSGD)")
    scenarios = (
        Scenario("small66-digits-iid", dataset="digits", partition="iid", max_test=None, **base),
        Scenario("small66-mnist-dir0.3", dataset="mnist", partition="dirichlet", max_train=6000, **base),
        Scenario("small66-digits-regional", dataset="digits", partition="regional", max_test=None,
                 round_interval_s=600.0, note="time-varying data: samples arrive over regions and expire; "
                                               "rounds every 600 s", **base),
        Scenario("small66-fmnist-iid", dataset="fashion-mnist", partition="iid", max_train=6000,
                 methods=without_msf, **base),
        Scenario("small66-satimage-dir0.3", dataset="satimage", partition="dirichlet", methods=without_msf,
                 **base),
        Scenario("small66-eurosat-iid", dataset="eurosat", partition="iid", max_train=6000, **base),
        Scenario("shell1-1584-mnist-iid", "starlink-shell1", "mnist", "iid", rounds=3, seeds=(0, 1, 2),
                 max_train=16000, note="Starlink shell 1, Fed-Span K=1 and MSF and every baseline"),
        Scenario("starlink-real-5236-mnist-iid", "starlink-2024-05.tle", "mnist", "iid", rounds=2, seeds=(0,),
                 max_train=20000, methods=no_gossip,
                 note="real Starlink snapshot (2024-05), every method but gossip (suite time), 1 seed"),
    )
    return Suite(mode="default", methods=all_methods, scenarios=scenarios, k_values=(1, 3, 6),
                 k_sweep=scenarios[0],
                 weight_grid=((1.0, 1.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (3.0, 1.0, 1.0)),
                 weights_sweep=Scenario("weights", "small", "digits", rounds=2, seeds=(0,), max_test=None),
                 # Planner time vs size, one solve each: 0.5 s (66) to ~3.5 s (1584) on 2 shared cores.
                 sizes=(66, 132, 264, 528, 1056, 1584), speed_timeout_s=150.0,
                 speed_flags={"bench_orbits.py": ("--quick",), "bench_planner.py": ("--quick",),
                              "bench_training.py": ("--quick",)})
