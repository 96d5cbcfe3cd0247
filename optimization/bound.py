"""The non-convex convergence bound of docs/convergence-bound.md, in plain numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.problem import LearningConstants

# Constants of the bound, derived in docs/convergence-bound.md (step condition eta <= 1/(8 beta e sqrt(zeta1))).
C_GAP = 4.0
C_DRIFT = 4.0
C_NOISE = 2.0
C_DRIFT_LOCAL = 16.0


@dataclass(frozen=True)
class BoundTerms:
    """The four terms of the bound and their sum."""

    gap: float
    drift: float
    noise: float
    local_drift: float

    @property
    def total(self) -> float:
        """Sum of all terms."""
        return self.gap + self.drift + self.noise + self.local_drift


def drift_exposure(latency_s: float, deadline_s: float | None) -> float:
    """Seconds the data drifts in one round (s): its latency back to back, at least the interval on a cadence.

    >>> drift_exposure(2.5, None), drift_exposure(2.5, 600.0), drift_exposure(700.0, 600.0)
    (2.5, 600.0, 700.0)
    """
    return float(latency_s) if deadline_s is None else max(float(latency_s), float(deadline_s))


def data_shares(num_samples: np.ndarray) -> np.ndarray:
    """FedAvg weights rho_n = D_n / sum D."""
    return num_samples / num_samples.sum()


def cluster_dissimilarity(learning: LearningConstants, num_trees: int) -> float:
    """zeta2 plus the inter-cluster term, which grows with the mixing period and vanishes at one tree."""
    return learning.dissimilarity * (1.0 + learning.mix_every * (1.0 - 1.0 / num_trees))


def bound_terms(
    learning: LearningConstants,
    num_samples: np.ndarray,
    local_steps: np.ndarray,
    batch_size: np.ndarray,
    latency_s: float,
    idle_s: np.ndarray | float,
    num_trees: int,
) -> BoundTerms:
    """Bound on the average squared gradient norm over `learning.rounds` identical rounds.

    The non-convex convergence bound derived in docs/convergence-bound.md, after that of the Fed-Span
    paper [1]_.

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations,
       arXiv:2509.24932, 2025.
    """
    n = len(num_samples)
    rho = data_shares(num_samples)
    eta, beta = learning.learning_rate, learning.smoothness
    steps = np.asarray(local_steps, float)
    mean_steps = float(rho @ steps)
    sigma2 = np.broadcast_to(np.asarray(learning.grad_variance, float), (n,))
    drift = np.broadcast_to(np.asarray(learning.drift_per_s, float), (n,))
    idle = np.broadcast_to(np.asarray(idle_s, float), (n,))
    variance = np.maximum(1.0 / batch_size - 1.0 / num_samples, 0.0)
    return BoundTerms(
        gap=C_GAP * learning.initial_gap / (eta * learning.rounds * mean_steps),
        drift=C_DRIFT * float(rho @ (drift * (latency_s + idle))) / (eta * mean_steps),
        noise=C_NOISE * eta * beta * float(rho @ (sigma2 * variance)),
        local_drift=C_DRIFT_LOCAL * (eta * beta * steps.max()) ** 2 * cluster_dissimilarity(learning, num_trees),
    )


def predicted_decrease(
    learning: LearningConstants,
    num_samples: np.ndarray,
    local_steps: np.ndarray,
    batch_size: np.ndarray,
    exposure_s: float,
    idle_s: np.ndarray | float,
    num_trees: int,
    grad_norm_sq: float,
) -> float:
    """The loss decrease over one round that the bound guarantees from a model with ``||grad F||^2 = grad_norm_sq``.

    The bound with R = 1 reads ``||grad F(w_k)||^2 <= 4 (F(w_k) - F(w_{k+1})) / (eta ebar) + drift + noise +
    local drift``, so ``F(w_k) - F(w_{k+1}) >= (eta ebar / 4) (||grad F(w_k)||^2 - drift - noise - local drift)``
    (docs/convergence-bound.md). Negative when the noise and drift terms outweigh the gradient.
    ``exposure_s`` is the round's drift exposure (its latency back to back, its interval on a cadence).

    >>> import numpy as np
    >>> c = LearningConstants(learning_rate=0.1, grad_variance=0.0, dissimilarity=0.0, drift_per_s=0.0)
    >>> predicted_decrease(c, np.array([100.0]), np.array([4.0]), np.array([100.0]), 1.0, 0.0, 1, 2.0)
    0.2
    """
    rho = data_shares(np.asarray(num_samples, float))
    mean_steps = float(rho @ np.asarray(local_steps, float))
    terms = bound_terms(learning, num_samples, local_steps, batch_size, exposure_s, idle_s, num_trees)
    return float(learning.learning_rate * mean_steps / C_GAP * (grad_norm_sq - terms.drift - terms.noise - terms.local_drift))
