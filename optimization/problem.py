"""The planning problem a user builds from plain arrays: graph, satellites, learning, weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

import numpy as np

from optimization.errors import InvalidProblemError, NonFiniteInputError
from optimization.progress_model import ProgressModel

SPEED_OF_LIGHT_KM_S = 299_792.458

#: The number of trees K of a forest: a fixed integer >= 1, or "auto" (the planner picks K each round).
TreeCount = Union[int, Literal["auto"]]
AUTO_TREES: Literal["auto"] = "auto"


#: The design document's satellite (docs/planner.md): the one home of these defaults, used by
#: :meth:`SatelliteResources.uniform`, ``fedspan.scenario.ScenarioConfig`` and the ``paper`` hardware profile.
DESIGN_MAX_CPU_HZ = 1.5e9  # Hz
DESIGN_MIN_CPU_HZ = 1e8  # Hz
DESIGN_CYCLES_PER_SAMPLE = 1e7  # CPU cycles per sample per local step
DESIGN_CAPACITANCE = 1e-28  # F, effective switched capacitance (dynamic energy 0.5 C f^2 per cycle)


def parse_tree_count(value: Any) -> TreeCount:
    """``value`` (an int, or text such as ``"4"`` or ``"auto"``) as a TreeCount; ValueError otherwise.

    The one place a tree count is read: everything past it holds an ``int >= 1`` or ``"auto"``.
    """
    if isinstance(value, str) and value.strip().lower() == AUTO_TREES:
        return AUTO_TREES
    if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer, str)):
        k = 0
    else:
        try:
            k = int(str(value).strip())
        except ValueError:
            k = 0
    if k < 1:
        raise ValueError(f"{value!r} is not a number of trees >= 1 or 'auto'")
    return k


def fixed_tree_count(num_trees: TreeCount) -> int | None:
    """The fixed K of a TreeCount, or None when the planner picks it ("auto")."""
    return None if num_trees == AUTO_TREES else int(num_trees)


def as_vector(
    name: str,
    value: object,
    length: int,
    *,
    positive: bool = True,
    allow_inf: bool = False,
    dtype: type = float,
) -> np.ndarray:
    """Broadcast `value` to a length-`length` array, rejecting NaN, inf (unless allowed) and non-positive entries."""
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=dtype), (length,)).copy()
    except (ValueError, TypeError) as exc:
        shape = np.shape(value)
        raise InvalidProblemError(f"{name}: expected a scalar or {length} values, got shape {shape}") from exc
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NonFiniteInputError(f"{name}[{i}] = {arr[i]!r} is not a finite number")
    if positive and (arr <= 0).any():
        i = int(np.flatnonzero(arr <= 0)[0])
        raise InvalidProblemError(f"{name}[{i}] = {arr[i]!r} must be > 0")
    return arr


def _positive_scalar(name: str, value: float) -> float:
    """Check one finite positive number."""
    v = float(value)
    if not np.isfinite(v):
        raise NonFiniteInputError(f"{name} = {value!r} is not a finite number")
    if v <= 0:
        raise InvalidProblemError(f"{name} = {value!r} must be > 0")
    return v


@dataclass
class SatelliteResources:
    """Per-satellite compute, data, terminal, power and energy-budget arrays (SI units)."""

    max_cpu_hz: np.ndarray
    min_cpu_hz: np.ndarray
    cycles_per_sample: np.ndarray
    capacitance: np.ndarray
    num_samples: np.ndarray
    terminals: np.ndarray
    energy_budget_j: np.ndarray
    max_tx_power_w: np.ndarray
    min_tx_power_w: np.ndarray
    #: Static (idle) power of the on-board computer while it trains, W: charged for the training time only
    #: (docs/physical-model.md). 0 is the paper's dynamic-only model.
    static_power_w: np.ndarray | None = None

    @classmethod
    def uniform(
        cls,
        num_nodes: int,
        *,
        max_cpu_hz: float | np.ndarray = DESIGN_MAX_CPU_HZ,
        min_cpu_hz: float | np.ndarray = DESIGN_MIN_CPU_HZ,
        cycles_per_sample: float | np.ndarray = DESIGN_CYCLES_PER_SAMPLE,
        capacitance: float | np.ndarray = DESIGN_CAPACITANCE,
        num_samples: float | np.ndarray = 1000,
        terminals: int | np.ndarray = 4,
        energy_budget_j: float | np.ndarray = np.inf,
        max_tx_power_w: float | np.ndarray = 2.0,
        min_tx_power_w: float | np.ndarray = 0.01,
        static_power_w: float | np.ndarray = 0.0,
    ) -> SatelliteResources:
        """Resources with the design-doc defaults, any field overridable by a scalar or an array."""
        n = int(num_nodes)
        return cls(
            max_cpu_hz=np.broadcast_to(np.asarray(max_cpu_hz, float), (n,)).copy(),
            min_cpu_hz=np.broadcast_to(np.asarray(min_cpu_hz, float), (n,)).copy(),
            cycles_per_sample=np.broadcast_to(np.asarray(cycles_per_sample, float), (n,)).copy(),
            capacitance=np.broadcast_to(np.asarray(capacitance, float), (n,)).copy(),
            num_samples=np.broadcast_to(np.asarray(num_samples, float), (n,)).copy(),
            terminals=np.broadcast_to(np.asarray(terminals), (n,)).copy(),
            energy_budget_j=np.broadcast_to(np.asarray(energy_budget_j, float), (n,)).copy(),
            max_tx_power_w=np.broadcast_to(np.asarray(max_tx_power_w, float), (n,)).copy(),
            min_tx_power_w=np.broadcast_to(np.asarray(min_tx_power_w, float), (n,)).copy(),
            static_power_w=np.broadcast_to(np.asarray(static_power_w, float), (n,)).copy(),
        )

    def validated(self, n: int) -> SatelliteResources:
        """Return a copy with every array checked against `n` satellites."""
        fields = {
            "max_cpu_hz": as_vector("resources.max_cpu_hz", self.max_cpu_hz, n),
            "min_cpu_hz": as_vector("resources.min_cpu_hz", self.min_cpu_hz, n),
            "cycles_per_sample": as_vector("resources.cycles_per_sample", self.cycles_per_sample, n),
            "capacitance": as_vector("resources.capacitance", self.capacitance, n),
            "num_samples": as_vector("resources.num_samples", self.num_samples, n),
            "terminals": as_vector("resources.terminals", self.terminals, n).astype(int),
            "energy_budget_j": as_vector("resources.energy_budget_j", self.energy_budget_j, n, allow_inf=True),
            "max_tx_power_w": as_vector("resources.max_tx_power_w", self.max_tx_power_w, n),
            "min_tx_power_w": as_vector("resources.min_tx_power_w", self.min_tx_power_w, n),
            "static_power_w": as_vector("resources.static_power_w",
                                        0.0 if self.static_power_w is None else self.static_power_w, n, positive=False),
        }
        for low, high in (("min_cpu_hz", "max_cpu_hz"), ("min_tx_power_w", "max_tx_power_w")):
            bad = fields[low] > fields[high]
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InvalidProblemError(
                    f"resources.{low}[{i}] = {fields[low][i]:g} exceeds resources.{high}[{i}] = {fields[high][i]:g}"
                )
        if (fields["static_power_w"] < 0).any():
            i = int(np.flatnonzero(fields["static_power_w"] < 0)[0])
            raise InvalidProblemError(f"resources.static_power_w[{i}] = {fields['static_power_w'][i]:g} must be >= 0")
        if (fields["terminals"] < 1).any():
            i = int(np.flatnonzero(fields["terminals"] < 1)[0])
            raise InvalidProblemError(f"resources.terminals[{i}] = {fields['terminals'][i]} must be >= 1")
        return SatelliteResources(**fields)


@dataclass(frozen=True)
class LearningConstants:
    """Constants of the convergence bound (docs/convergence-bound.md): smoothness, noise, dissimilarity, drift."""

    smoothness: float = 1.0
    grad_variance: float | np.ndarray = 1.0
    dissimilarity_scale: float = 1.0
    dissimilarity: float = 0.1
    drift_per_s: float | np.ndarray = 1e-3
    initial_gap: float = 2.3
    learning_rate: float = 0.01
    rounds: int = 100
    mix_every: int = 1
    #: Enforce the proof's step-size condition as a cap on local steps. Measured constants of real networks
    #: often put that cap below one step at step sizes that train well; False plans with the bound as a
    #: model beyond its proof (the local-drift term still prices extra steps), bounded by local_steps_bounds.
    step_condition: bool = True

    def max_local_steps(self) -> float:
        """Largest local step count the step-size condition eta <= 1 / (8 beta e sqrt(zeta1)) allows (inf when off)."""
        if not self.step_condition:
            return float("inf")
        return 1.0 / (8.0 * self.smoothness * self.learning_rate * np.sqrt(self.dissimilarity_scale))


@dataclass(frozen=True)
class ObjectiveWeights:
    """Weights of the normalised objective w_loss * bound + w_energy * E + w_latency * T.

    Each cost is divided by its scale; `scales=None` uses the costs of the distance forest with
    default resources, so the warm start scores `loss + energy + latency`.
    """

    loss: float = 1.0
    energy: float = 1.0
    latency: float = 1.0
    scales: tuple[float, float, float] | None = None


@dataclass
class SpanningProblem:
    """Candidate inter-satellite links, satellites and learning setup; validated on construction.

    `edges` are undirected pairs; orientation and order are canonicalised (per-edge arrays follow).
    """

    num_nodes: int
    edges: np.ndarray
    distance_km: np.ndarray
    rate_per_watt: np.ndarray
    delay_s: np.ndarray | None = None
    max_rate_bps: float = 10e9
    resources: SatelliteResources | None = None
    model_bits: float = 1.6e6
    learning: LearningConstants = field(default_factory=LearningConstants)
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    num_trees: TreeCount = 1
    root_eligible: np.ndarray | None = None
    local_steps_bounds: tuple[int, int] = (1, 10)
    batch_bounds: tuple[int, int] = (8, 64)
    min_idle_s: float = 0.0
    #: Rounds on a cadence: each round must finish within this many seconds (the time to the next tick).
    #: Latency below it costs nothing and the data drifts for the whole interval, so the planner spends the
    #: slack on learning and slower clocks. None: rounds run back to back and latency is priced by its weight.
    deadline_s: float | None = None
    #: Electrical power of one link terminal while its link is active (W), beyond the transmit power. A transfer
    #: keeps two terminals busy for its air time; both are charged to the sender (exact per satellite when both
    #: directions of a link run at the same rate, as at the rate cap). 0: the paper's transmit-power-only model.
    terminal_power_w: float = 0.0
    #: Per candidate edge: time to acquire the link (s) when it was not up in the previous round; 0 for kept links.
    #: Acquisition starts at the round's start, beside training, so a child sends no earlier than its uplink's
    #: acquisition ends; both terminals draw terminal_power_w meanwhile (charged to the child). None: all 0.
    acquisition_s: np.ndarray | None = None
    #: The unit a relay forwards (bits): it adds its children's partial sums and passes them on packet by packet
    #: (cut-through), so a packet's time is paid once per hop and the whole model's once per path
    #: (docs/physical-model.md, "Packets"). None (or >= model_bits): whole models, store and forward, the paper's
    #: critical path.
    packet_bits: float | None = None
    #: Rounds-to-target model (docs/convergence-bound.md, "Planning for time to accuracy"). With one, the planner
    #: chooses the local steps and batch for time to accuracy (:func:`optimization.knobs.choose_knobs`) and the bound
    #: stays a certificate; None: the knobs are chosen by the bound in the objective, as before.
    progress: ProgressModel | None = None
    #: Derived values (objective scales); not an init field, so `dataclasses.replace` starts a fresh one.
    cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.num_nodes
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidProblemError(f"num_nodes = {n!r} must be a positive integer")
        self.num_nodes = n = int(n)
        self._canonical_edges()
        e = len(self.edges)
        self.distance_km = as_vector("distance_km", self.distance_km, e)
        self.rate_per_watt = as_vector("rate_per_watt", self.rate_per_watt, e)
        if self.delay_s is None:
            self.delay_s = self.distance_km / SPEED_OF_LIGHT_KM_S
        self.delay_s = as_vector("delay_s", self.delay_s, e, positive=False)
        if (self.delay_s < 0).any():
            i = int(np.flatnonzero(self.delay_s < 0)[0])
            raise InvalidProblemError(f"delay_s[{i}] = {self.delay_s[i]!r} must be >= 0")
        acq = np.zeros(e) if self.acquisition_s is None else as_vector("acquisition_s", self.acquisition_s, e,
                                                                         positive=False)
        if (acq < 0).any():
            i = int(np.flatnonzero(acq < 0)[0])
            raise InvalidProblemError(f"acquisition_s[{i}] = {acq[i]!r} must be >= 0")
        self.acquisition_s = acq
        if e:
            perm = self.cache.pop("_perm")
            self.distance_km, self.rate_per_watt, self.delay_s, self.acquisition_s = (
                self.distance_km[perm], self.rate_per_watt[perm], self.delay_s[perm], self.acquisition_s[perm]
            )
        self.max_rate_bps = _positive_scalar("max_rate_bps", self.max_rate_bps)
        self.model_bits = _positive_scalar("model_bits", self.model_bits)
        if self.packet_bits is not None:
            self.packet_bits = _positive_scalar("packet_bits", self.packet_bits)
        self.terminal_power_w = float(self.terminal_power_w)
        if not np.isfinite(self.terminal_power_w) or self.terminal_power_w < 0:
            raise InvalidProblemError(f"terminal_power_w = {self.terminal_power_w!r} must be finite and >= 0")
        self.min_idle_s = float(self.min_idle_s)
        if not np.isfinite(self.min_idle_s) or self.min_idle_s < 0:
            raise InvalidProblemError(f"min_idle_s = {self.min_idle_s!r} must be finite and >= 0")
        if self.deadline_s is not None:
            self.deadline_s = _positive_scalar("deadline_s", self.deadline_s)
        self.resources = (self.resources or SatelliteResources.uniform(n)).validated(n)
        if self.progress is not None and not isinstance(self.progress, ProgressModel):
            raise InvalidProblemError(f"progress = {self.progress!r} must be a ProgressModel or None")
        self._check_learning()
        self._check_weights()
        self._check_bounds()
        if self.root_eligible is not None:
            arr = np.asarray(self.root_eligible)
            if arr.shape != (n,):
                raise InvalidProblemError(f"root_eligible: expected {n} booleans, got shape {arr.shape}")
            self.root_eligible = arr.astype(bool)
        if self.num_trees != AUTO_TREES:
            if not isinstance(self.num_trees, (int, np.integer)) or not 1 <= self.num_trees <= n:
                raise InvalidProblemError(f"num_trees = {self.num_trees!r} must be 'auto' or an integer in [1, {n}]")
            self.num_trees = int(self.num_trees)

    def _canonical_edges(self) -> None:
        """Orient every edge low -> high and sort lexicographically; reject loops, duplicates, bad ids."""
        edges = np.asarray(self.edges)
        if edges.size == 0:
            self.edges = np.zeros((0, 2), dtype=np.int64)
            return
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise InvalidProblemError(f"edges: expected shape (E, 2), got {edges.shape}")
        if not np.issubdtype(edges.dtype, np.integer):
            if not np.isfinite(edges.astype(float)).all() or (edges != np.round(edges)).any():
                raise NonFiniteInputError("edges must hold integer satellite indices")
        edges = edges.astype(np.int64)
        bad = (edges < 0) | (edges >= self.num_nodes)
        if bad.any():
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            raise InvalidProblemError(f"edges[{i}] = {edges[i].tolist()} names a satellite outside 0..{self.num_nodes - 1}")
        loops = edges[:, 0] == edges[:, 1]
        if loops.any():
            i = int(np.flatnonzero(loops)[0])
            raise InvalidProblemError(f"edges[{i}] = {edges[i].tolist()} is a self-loop")
        lo, hi = edges.min(axis=1), edges.max(axis=1)
        perm = np.lexsort((hi, lo))
        canon = np.stack([lo[perm], hi[perm]], axis=1)
        dup = (np.diff(canon, axis=0) == 0).all(axis=1)
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InvalidProblemError(f"edge {canon[i].tolist()} appears twice in edges")
        self.edges = canon
        self.cache["_perm"] = perm

    def _check_learning(self) -> None:
        lc = self.learning
        for name in ("smoothness", "dissimilarity_scale", "initial_gap", "learning_rate"):
            _positive_scalar(f"learning.{name}", getattr(lc, name))
        if lc.dissimilarity_scale < 1:
            raise InvalidProblemError(f"learning.dissimilarity_scale = {lc.dissimilarity_scale} must be >= 1")
        if not np.isfinite(lc.dissimilarity) or lc.dissimilarity < 0:
            raise InvalidProblemError(f"learning.dissimilarity = {lc.dissimilarity!r} must be finite and >= 0")
        as_vector("learning.grad_variance", lc.grad_variance, self.num_nodes)
        as_vector("learning.drift_per_s", lc.drift_per_s, self.num_nodes)
        for name in ("rounds", "mix_every"):
            if int(getattr(lc, name)) < 1:
                raise InvalidProblemError(f"learning.{name} = {getattr(lc, name)!r} must be >= 1")

    def _check_weights(self) -> None:
        w = self.weights
        vals = np.array([w.loss, w.energy, w.latency], dtype=float)
        if not np.isfinite(vals).all() or (vals < 0).any() or vals.sum() <= 0:
            raise InvalidProblemError(f"weights (loss, energy, latency) = {vals.tolist()} must be finite, >= 0, not all 0")
        if w.scales is not None:
            for name, v in zip(("bound", "energy_j", "latency_s"), w.scales):
                _positive_scalar(f"weights.scales.{name}", v)

    def _check_bounds(self) -> None:
        for name in ("local_steps_bounds", "batch_bounds"):
            lo, hi = getattr(self, name)
            if not (1 <= int(lo) <= int(hi)):
                raise InvalidProblemError(f"{name} = {(lo, hi)!r} must satisfy 1 <= low <= high")
            setattr(self, name, (int(lo), int(hi)))
        cap = self.learning.max_local_steps()
        if self.local_steps_bounds[0] > cap:
            raise InvalidProblemError(
                f"local_steps_bounds low = {self.local_steps_bounds[0]} exceeds {cap:.3g}, the most local steps "
                f"the step-size condition allows with learning_rate = {self.learning.learning_rate}"
            )
        few = self.resources.num_samples < self.batch_bounds[0]
        # A pinned batch (low == high) means min(B, D_n) for each satellite (batch_limits): no satellite is too small.
        if few.any() and self.batch_bounds[0] < self.batch_bounds[1]:
            i = int(np.flatnonzero(few)[0])
            raise InvalidProblemError(
                f"resources.num_samples[{i}] = {self.resources.num_samples[i]:g} is below the minimum batch {self.batch_bounds[0]}"
            )

    @property
    def num_edges(self) -> int:
        """Number of undirected candidate edges."""
        return len(self.edges)

    @property
    def packet_fraction(self) -> float:
        """The share of a model one forwarded packet carries, in (0, 1]: 1 where whole models are stored and
        forwarded (``packet_bits`` None or at least the model)."""
        return 1.0 if self.packet_bits is None else min(1.0, self.packet_bits / self.model_bits)

    def step_bounds(self) -> tuple[float, float]:
        """Local-step bounds after the step-size condition."""
        lo, hi = self.local_steps_bounds
        return float(lo), float(min(hi, np.floor(self.learning.max_local_steps())))

    def batch_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-satellite batch bounds (samples): a batch never exceeds the satellite's data.

        The low bound is ``batch_bounds[0]`` (validation keeps every satellite's data above it) except for a
        pinned batch ``(B, B)``, which a satellite holding fewer than B samples runs as one full batch.
        """
        lo, hi = self.batch_bounds
        samples = self.resources.num_samples
        return np.minimum(float(lo), samples), np.minimum(float(hi), samples)
