"""What a run's config builds: its policy, link budget, hardware arrays, scenario and data split.

Plain functions of a :class:`~fedspan.config.SimulationConfig`, used by the simulation, ``fedspan plan`` and the
benchmarks alike (also importable from :mod:`fedspan.simulation`, their former home).
"""

from __future__ import annotations

import numpy as np
import torch

from fedspan.config import SimulationConfig, SimulationError
from fedspan.data import load_dataset
from fedspan.errors import FedSpanError
from fedspan.models import make_model, model_bits
from fedspan.partition import dirichlet, iid
from fedspan.sanity import check_constellation
from fedspan.scenario import Scenario, ScenarioConfig, load_constellation
from fedspan.strategies import AggregationStrategy, make_strategy
from optimization.problem import LearningConstants, ObjectiveWeights
from orbits.links import LinkParams

def make_policy(c: SimulationConfig) -> AggregationStrategy:
    """The configured policy; forest policies get ``num_trees`` from the config.

    An option value the policy cannot use (``sca_iters=abc``) is a one-line error naming it.
    """
    from fedspan.strategies.registry import strategy_class

    options = dict(c.strategy_options)
    if strategy_class(c.strategy).takes_num_trees:
        options.setdefault("num_trees", c.num_trees)
    try:
        return make_strategy(c.strategy, **options)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, FedSpanError):
            raise
        raise SimulationError(f"strategy '{c.strategy}': bad option value in "
                              f"{', '.join(f'{k}={v!r}' for k, v in c.strategy_options.items())} ({exc})") from None


_LINK_OPTIONS = ("terminals", "rate_cap_bps", "tx_power_w", "aperture_m")


def link_params(c: SimulationConfig) -> LinkParams:
    """The link a configuration describes: the laser options on ``paper``, else the hardware profile's terminal."""
    if c.hardware == "paper":
        return LinkParams(terminals=c.terminals, max_rate_bps=float(c.rate_cap_bps),
                          max_tx_power_w=float(c.tx_power_w), aperture_diameter_m=float(c.aperture_m))
    from fedspan.config import FIELDS
    from fedspan.hardware import hardware_profile

    changed = [name for name in _LINK_OPTIONS if getattr(c, name) != FIELDS[name].default]
    if changed:
        raise SimulationError(f"--{changed[0].replace('_', '-')} applies to --hardware paper; hardware "
                              f"'{c.hardware}' brings its own link (write a TOML profile with a [link] table to change it)")
    return hardware_profile(c.hardware).link.link_params()


def model_flops(c: SimulationConfig, model: torch.nn.Module, input_shape) -> float | None:
    """Training FLOPs per sample of the model, when the hardware prices compute from them (None on paper)."""
    if c.hardware == "paper" and c.fleet is None:
        return None
    from fedspan.hardware.flops import training_flops_per_sample

    return training_flops_per_sample(model, input_shape)


def hardware_arrays(c: SimulationConfig, n: int, flops: float | None) -> dict[str, np.ndarray] | None:
    """Per-satellite hardware arrays of the run's profile and fleet (None: the paper's identical satellites)."""
    if c.hardware == "paper" and c.fleet is None:
        return None
    from fedspan.config import parse_mix
    from fedspan.hardware import hardware_profile
    from fedspan.hardware.fleet import read_fleet_csv, satellite_arrays, seeded_mix

    profile = hardware_profile(c.hardware)
    flops = 1.0 if flops is None else flops
    if c.fleet is None:
        return satellite_arrays([profile], flops, index=np.zeros(n, np.int64))
    if c.fleet.startswith("mix:"):
        names = seeded_mix(parse_mix(c.fleet), n, c.seed)
        unique, index = np.unique(names, return_inverse=True)
        return satellite_arrays([hardware_profile(str(u)) for u in unique], flops, index=index.reshape(-1))
    return read_fleet_csv(c.fleet, n).satellite_arrays(profile, flops)


def scenario_for(c: SimulationConfig, bits: float, flops: float | None = None) -> Scenario:
    """The scenario a configuration describes, for a model of ``bits`` bits and ``flops`` training FLOPs per sample."""
    # --mix-every 0 (never mix) is planned as one exchange period spanning the whole run: the planner's
    # bound then carries the full inter-cluster dissimilarity and the exchange costs almost nothing per round.
    learning = LearningConstants(learning_rate=c.lr, rounds=c.rounds,
                                 mix_every=c.mix_every if c.mix_every >= 1 else max(c.rounds, 1),
                                 smoothness=c.smoothness)
    constellation = load_constellation(c.constellation, c.skip_bad_tles)
    arrays = hardware_arrays(c, len(constellation), flops)
    policy = c.link_policy
    if c.hardware != "paper":
        from fedspan.hardware import hardware_profile

        if hardware_profile(c.hardware).link_policy == "grid":  # fixed neighbours (Iridium-class radios)
            policy = "grid"
    scenario = Scenario(ScenarioConfig(
        constellation=c.constellation, skip_bad_tles=c.skip_bad_tles, start=c.start, link_policy=policy,
        neighbors=c.neighbors, link_params=link_params(c), ground_stations=c.ground_stations,
        roots_see_ground=c.roots_see_ground, learning=learning, weights=ObjectiveWeights(*c.weights),
        hardware=arrays), model_bits=bits, constellation=constellation)
    positions = scenario.constellation.propagate(scenario.start, [0.0]).positions_km[0]
    check_constellation(scenario.constellation, str(c.constellation), scenario.start, positions)
    return scenario


def build_scenario(c: SimulationConfig, bits: float | None = None) -> tuple[Scenario, float]:
    """The scenario (for planning without training) and the model size it uses.

    ``bits`` defaults to ``c.model_bits``, else the size of ``c.model`` on ``c.dataset``.
    """
    c.validate()
    if bits is None:
        bits = c.model_bits
    flops = None
    if bits is None or c.hardware != "paper" or c.fleet is not None:
        data = load_dataset(c.dataset, root=c.data_root)
        model = make_model(c.model, data.input_shape, data.num_classes, width=c.model_width, seed=c.seed)
        bits = float(model_bits(model)) if bits is None else bits
        flops = model_flops(c, model, data.input_shape)
    return scenario_for(c, bits, flops), float(bits)


def data_weights(c: SimulationConfig, n: int) -> np.ndarray | None:
    """Relative data sizes from a fleet file's ``data_scale`` column (None: equal shares)."""
    if c.fleet is None or c.fleet.startswith("mix:"):
        return None
    from fedspan.hardware.fleet import read_fleet_csv

    scale = read_fleet_csv(c.fleet, n).data_scale
    return None if np.all(scale == 1.0) else scale


def static_partition(c: SimulationConfig, labels: np.ndarray, n: int) -> list[np.ndarray]:
    """The iid / Dirichlet split of the training labels over ``n`` satellites (seeded; a fleet's data scales)."""
    rng = np.random.default_rng([c.seed, 1])
    weights = data_weights(c, n)
    if c.partition == "dirichlet":
        return dirichlet(labels, n, c.alpha, rng) if weights is None else dirichlet(labels, n, c.alpha, rng, weights)
    return iid(labels, n, rng) if weights is None else iid(labels, n, rng, weights)


def plan_sample_weights(c: SimulationConfig, n: int) -> np.ndarray:
    """|D_n| per satellite for planning ahead: the static split's sizes (regional: its mean size)."""
    labels = load_dataset(c.dataset, root=c.data_root).subset(c.max_train, c.max_test, seed=c.seed).y_train.numpy()
    sizes = np.array([len(ix) for ix in static_partition(c, labels, n)], dtype=float)
    return sizes if c.partition != "regional" else np.full(n, sizes.mean())
