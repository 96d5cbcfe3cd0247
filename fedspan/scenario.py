"""Glue from the orbits layer to the optimizer: one place that turns a constellation at a time
into the round's candidate graph, satellite resources and ``SpanningProblem``.

Reused by the strategies, the simulation loop, the CLI and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from fedspan.errors import FedSpanError
from optimization.problem import (DESIGN_CAPACITANCE, DESIGN_CYCLES_PER_SAMPLE, DESIGN_MAX_CPU_HZ, LearningConstants,
                                  ObjectiveWeights, SatelliteResources, SpanningProblem)
from optimization.progress_model import ProgressModel
from orbits.constellation import Constellation
from orbits.errors import OrbitsError
from orbits.isl import Snapshot, snapshots
from orbits import ground
from orbits.links import LinkParams, propagation_delay_s
from orbits.power import PowerSystem
from orbits.walker import WALKER_PRESETS


#: A new link must stay feasible for this many acquisition times (so acquiring takes at most a tenth of its life);
#: without it a myopic plan favours the longest links, which leave range within a round or two (measured on
#: smallsat-edge: 4 of 5 cross-plane links re-acquired every round, each round 60 s).
NEW_LINK_ACQUISITIONS = 10.0


class ScenarioError(FedSpanError):
    """A constellation, ground-station file or scenario option that cannot be used."""


@dataclass
class ScenarioConfig:
    """What the constellation, links and satellites look like (defaults: design document)."""

    constellation: str = "small"  # a Walker preset name or a TLE file path
    skip_bad_tles: bool = False  # drop malformed TLE records (with a warning) instead of failing
    start: datetime | None = None  # None: the constellation's epoch
    link_policy: str = "knn"
    neighbors: int = 8
    link_params: LinkParams = field(default_factory=LinkParams)
    ground_stations: str | None = None  # CSV path; None: orbits' default stations (star baseline only)
    roots_see_ground: bool = False
    rf_tx_power_w: float = 5.0  # electrical power of the satellite's RF downlink transmitter
    max_cpu_hz: float = DESIGN_MAX_CPU_HZ
    cycles_per_sample: float = DESIGN_CYCLES_PER_SAMPLE
    capacitance: float = DESIGN_CAPACITANCE
    energy_budget_j: float = float("inf")  # per round, as the planner sees it
    learning: LearningConstants = field(default_factory=LearningConstants)
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    local_steps_bounds: tuple[int, int] = (1, 10)
    batch_bounds: tuple[int, int] = (8, 64)
    #: Per-satellite hardware arrays (``fedspan.hardware.fleet.satellite_arrays``): compute, static power, power
    #: system. None: every satellite alike with the scalar fields above (the paper's model).
    hardware: dict[str, np.ndarray] | None = None
    #: Rounds-to-target model the planner chooses steps and batch with (``fedspan.knob_probe``); None: the bound.
    progress: ProgressModel | None = None


#: Well-known polar and mid-latitude gateway sites (approximate public coordinates).
DEFAULT_GROUND_STATIONS = (
    ground.GroundStation("Svalbard", 78.23, 15.41, 0.5),
    ground.GroundStation("Fairbanks", 64.86, -147.85, 0.2),
    ground.GroundStation("Kiruna", 67.86, 20.96, 0.4),
    ground.GroundStation("Wallops", 37.94, -75.46, 0.0),
    ground.GroundStation("Hartebeesthoek", -25.89, 27.69, 1.5),
    ground.GroundStation("Santiago", -33.15, -70.67, 0.7),
    ground.GroundStation("Perth", -31.80, 115.89, 0.0),
    ground.GroundStation("Usuda", 36.13, 138.36, 1.5),
)


def power_system(arrays: dict[str, np.ndarray]) -> PowerSystem | None:
    """The satellites' power systems from hardware arrays; None when every satellite is always powered."""
    capacity = np.asarray(arrays["capacity_j"], float)
    if not np.isfinite(capacity).any():
        return None
    if not np.isfinite(capacity).all():
        raise ScenarioError("a fleet mixes satellites with and without a battery; give every profile a power system")
    return PowerSystem(array_w=arrays["array_w"], bus_w=arrays["bus_w"], capacity_j=capacity,
                       max_depth_of_discharge=arrays["max_depth_of_discharge"])


def load_constellation(name_or_path: str, skip_bad_tles: bool = False) -> Constellation:
    """A Walker preset by name, else a TLE file; errors name what was asked for.

    A malformed TLE record is an error naming its file and line, unless ``skip_bad_tles``, which
    drops such records with one warning that counts them.
    """
    if name_or_path in WALKER_PRESETS:
        return Constellation.from_preset(name_or_path)
    path = Path(name_or_path)
    if not path.exists():
        raise ScenarioError(f"constellation '{name_or_path}' is neither a preset "
                            f"({', '.join(sorted(WALKER_PRESETS))}) nor an existing TLE file")
    try:
        return Constellation.from_file(path, strict=not skip_bad_tles)
    except OrbitsError as exc:
        raise ScenarioError(f"{path}: cannot build a constellation: {exc}") from exc


@dataclass
class GroundLinks:
    """Who sees a ground station now, and the RF link each visible satellite would use."""

    visible: np.ndarray  # (N,) bool
    rate_bps: np.ndarray  # (N,)
    delay_s: np.ndarray  # (N,)
    tx_power_w: np.ndarray  # (N,) satellite RF transmit power


class Scenario:
    """A constellation with its links, satellites and model size, queried round by round."""

    def __init__(self, config: ScenarioConfig, model_bits: float,
                 constellation: Constellation | None = None) -> None:
        self.config = config
        self.constellation = constellation or load_constellation(config.constellation, config.skip_bad_tles)
        self.start = config.start or self.constellation.epoch
        self.model_bits = float(model_bits)
        self.link_params = config.link_params
        n = len(self.constellation)
        hw = config.hardware
        if hw is None:
            self.resources = SatelliteResources.uniform(
                n, max_cpu_hz=config.max_cpu_hz, cycles_per_sample=config.cycles_per_sample,
                capacitance=config.capacitance, terminals=self.link_params.terminals,
                energy_budget_j=config.energy_budget_j, max_tx_power_w=self.link_params.max_tx_power_w)
            self.power = None
        else:
            if len(hw["max_cpu_hz"]) != n:
                raise ScenarioError(f"hardware arrays cover {len(hw['max_cpu_hz'])} satellites, the constellation {n}")
            self.resources = SatelliteResources.uniform(
                n, max_cpu_hz=hw["max_cpu_hz"], min_cpu_hz=hw["min_cpu_hz"], cycles_per_sample=hw["cycles_per_sample"],
                capacitance=hw["capacitance"], static_power_w=hw["static_power_w"],
                terminals=self.link_params.terminals, energy_budget_j=config.energy_budget_j,
                max_tx_power_w=self.link_params.max_tx_power_w)
            self.power = power_system(hw)
        self._stations: list[ground.GroundStation] | None = None
        self._ground_cache: tuple[float, GroundLinks] | None = None

    @property
    def num_satellites(self) -> int:
        """N."""
        return len(self.constellation)

    @property
    def plane_ids(self) -> np.ndarray:
        """Orbital plane of each satellite."""
        return self.constellation.plane_ids

    @property
    def index_in_plane(self) -> np.ndarray:
        """Ring position of each satellite inside its plane."""
        return self.constellation.index_in_plane

    def snapshot(self, time_s: float, window_s: float = 0.0, links_up: np.ndarray | None = None) -> Snapshot:
        """Candidate links at ``start + time_s`` that stay feasible for ``window_s`` seconds.

        ``links_up`` (L, 2): links up at the end of the last round. Where acquiring a link costs time they stay
        candidates while feasible for ``window_s`` (:func:`orbits.isl.snapshots` ``keep``), so a plan can keep
        them instead of acquiring new ones, and a new link must stay feasible for ``NEW_LINK_ACQUISITIONS``
        acquisition times (or ``window_s`` if longer): a link acquired to break within the next round would be
        acquired again at once. With free acquisition (the paper profile) the candidates are the policy's alone.
        """
        window_s, acquisition = float(window_s), float(self.link_params.acquisition_s)
        paid = acquisition > 0
        return next(snapshots(self.constellation, self.start, [float(time_s)], policy=self.config.link_policy,
                              k=self.config.neighbors, params=self.link_params,
                              window_s=max(window_s, NEW_LINK_ACQUISITIONS * acquisition),
                              window_step_s=max(min(60.0, window_s), 1.0), keep=links_up if paid else None,
                              hold_window_s=window_s))

    def subpoints(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Sub-satellite latitude/longitude (deg) of every satellite at ``start + time_s``."""
        lat, lon = self.constellation.propagate(self.start, [float(time_s)]).subpoints()
        return lat[0], lon[0]

    def acquisition_s(self, a: np.ndarray, b: np.ndarray, links_up: np.ndarray | None) -> np.ndarray:
        """Time (s) to acquire each link (a[i], b[i]) (global indices): 0 if it was up last round (``links_up``)."""
        acq = float(self.link_params.acquisition_s)
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        if acq == 0 or len(a) == 0:
            return np.zeros(len(a))
        if links_up is None or len(links_up) == 0:
            return np.full(len(a), acq)
        n = self.num_satellites
        up = np.asarray(links_up, np.int64).reshape(-1, 2)
        keys = np.unique(np.minimum(up[:, 0], up[:, 1]) * n + np.maximum(up[:, 0], up[:, 1]))
        want = np.minimum(a, b) * n + np.maximum(a, b)
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        return np.where(keys[pos] == want, 0.0, acq)

    def links_held(self, links: np.ndarray, gap_s: float) -> np.ndarray:
        """(L, 2) the links still up when the next round starts ``gap_s`` seconds after this one ended.

        A terminal that idles through the gap keeps tracking at its full power, so a link is held only while that
        costs no more than acquiring it again (``gap_s <= acquisition_s``); over a longer gap the terminals stand
        down and every link is acquired anew. Back to back (no gap) every link is held.
        """
        links = np.asarray(links, np.int64).reshape(-1, 2)
        return links if gap_s <= float(self.link_params.acquisition_s) else links[:0]

    def problem(self, snapshot: Snapshot, available: np.ndarray, sample_weight: np.ndarray,
                num_trees: int, energy_budget_j: np.ndarray | None = None,
                deadline_s: float | None = None, links_up: np.ndarray | None = None) -> tuple[SpanningProblem, np.ndarray]:
        """The round's SpanningProblem over the available satellites, and their global indices.

        ``energy_budget_j`` (N,) caps each satellite's energy this round (J) below the configured
        per-round budget, e.g. the battery left paced over the rounds left. ``deadline_s`` (s) is the
        time to the next tick of a cadence (``SpanningProblem.deadline_s``); None for back-to-back rounds.
        """
        available = np.asarray(available, bool) & np.asarray(snapshot.active, bool)
        nodes = np.flatnonzero(available)
        if len(nodes) == 0:
            raise ScenarioError(f"t = {snapshot.time_s:.0f} s: no satellite is available for the round")
        local = np.full(len(available), -1)
        local[nodes] = np.arange(len(nodes))
        keep = available[snapshot.edges[:, 0]] & available[snapshot.edges[:, 1]]
        edges = local[snapshot.edges[keep]]
        acquisition = self.acquisition_s(snapshot.edges[keep, 0], snapshot.edges[keep, 1], links_up)
        res = self.resources
        # The planner's variance model needs B_n <= |D_n|; a satellite with less data than the
        # smallest batch (or none: it still relays) is planned as holding one smallest batch.
        samples = np.maximum(np.asarray(sample_weight, float)[nodes], self.config.batch_bounds[0])
        sub = SatelliteResources(**{name: np.asarray(getattr(res, name))[nodes] for name in res.__dataclass_fields__})
        sub.num_samples = samples
        if energy_budget_j is not None:
            sub.energy_budget_j = np.minimum(sub.energy_budget_j, np.asarray(energy_budget_j, float)[nodes])
        root_eligible = self.ground_links(snapshot.time_s).visible[nodes] if self.config.roots_see_ground else None
        c = self.config
        problem = SpanningProblem(
            num_nodes=len(nodes), edges=edges, distance_km=snapshot.distance_km[keep],
            rate_per_watt=snapshot.rate_per_watt[keep], delay_s=snapshot.delay_s[keep],
            max_rate_bps=self.link_params.max_rate_bps, resources=sub, model_bits=self.model_bits,
            learning=c.learning, weights=c.weights, num_trees=num_trees, root_eligible=root_eligible,
            local_steps_bounds=c.local_steps_bounds, batch_bounds=c.batch_bounds, deadline_s=deadline_s,
            terminal_power_w=self.link_params.terminal_power_w, acquisition_s=acquisition, progress=c.progress,
            packet_bits=self.link_params.packet_bits or None)
        return problem, nodes

    def ground_links(self, time_s: float) -> GroundLinks:
        """Ground-station visibility and the best visible station's RF link at ``start + time_s``."""
        if self._ground_cache is not None and self._ground_cache[0] == time_s:
            return self._ground_cache[1]
        stations = self.ground_stations
        ecef = self.constellation.propagate(self.start, [float(time_s)]).positions_ecef_km
        elevation = ground.elevation_deg(stations, ecef)[0]
        slant = ground.slant_range_km(stations, ecef)[0]
        masks = np.array([s.min_elevation_deg for s in stations])[:, None]
        in_view = np.nan_to_num(elevation, nan=-90.0) >= masks
        visible = in_view.any(axis=0)
        distance = np.where(in_view, slant, np.inf).min(axis=0)
        distance = np.where(visible, distance, 1.0)  # placeholder range where nothing is in view
        links = GroundLinks(visible=visible, rate_bps=np.where(visible, ground.downlink_rate_bps(distance), 0.0),
                            delay_s=propagation_delay_s(distance),
                            tx_power_w=np.full(len(visible), self.config.rf_tx_power_w))
        self._ground_cache = (time_s, links)
        return links

    @property
    def ground_stations(self) -> list[ground.GroundStation]:
        """The configured stations (CSV) or the built-in gateway list."""
        if self._stations is None:
            path = self.config.ground_stations
            if path is None:
                self._stations = list(DEFAULT_GROUND_STATIONS)
            else:
                try:
                    self._stations = ground.read_ground_stations(path)
                except OrbitsError as exc:
                    raise ScenarioError(f"ground stations: {exc}") from exc
        return self._stations
