"""How many rounds a run needs to reach a target, as a function of the local steps and the batch.

The model of ``docs/convergence-bound.md`` ("Planning for time to accuracy"): rounds to a target scale as
``R(e, B) = R_ref (1 + B_noise / B) / e^a``. The batch factor is the empirical large-batch model of
McCandlish et al. (2018); ``e^a`` is the efficiency of e local steps (a = 1: worth e synchronous steps).
Kept apart from :mod:`optimization.knobs` so :class:`~optimization.problem.SpanningProblem` can carry one
without importing the planner's valuation code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimization.errors import InvalidProblemError


@dataclass(frozen=True)
class ProgressModel:
    """Rounds-to-target model ``R(e, B) / R_ref = (1 + b_noise / B) / e ** step_exponent``.

    ``b_noise`` (samples) is the gradient noise scale ``tr(Sigma) / |G|^2`` (McCandlish et al.'s B_simple):
    the batch at which a step's noise equals its signal. ``step_exponent`` a in [0, 1] is how much e local
    steps are worth: e^a synchronous steps (1: fully additive; below 1 under client drift).

    >>> m = ProgressModel(b_noise=16.0, step_exponent=0.5)
    >>> m.rounds_factor(4, 16)  # (1 + 16/16) / 4**0.5
    1.0
    >>> m.rounds_factor(1, 8)
    3.0
    """

    b_noise: float
    step_exponent: float

    def __post_init__(self) -> None:
        b, a = float(self.b_noise), float(self.step_exponent)
        if not math.isfinite(b) or b < 0:
            raise InvalidProblemError(f"progress.b_noise = {self.b_noise!r} must be a finite number >= 0 (samples)")
        if not math.isfinite(a) or not 0.0 <= a <= 1.0:
            raise InvalidProblemError(f"progress.step_exponent = {self.step_exponent!r} must be in [0, 1]")
        object.__setattr__(self, "b_noise", b)
        object.__setattr__(self, "step_exponent", a)

    def rounds_factor(self, local_steps: float | np.ndarray, batch_size: float | np.ndarray) -> float | np.ndarray:
        """Rounds to the target relative to R_ref (dimensionless) at e local steps of batch B (samples)."""
        e = np.asarray(local_steps, dtype=float)
        b = np.asarray(batch_size, dtype=float)
        out = (1.0 + self.b_noise / b) / e ** self.step_exponent
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, float]:
        """JSON-safe form (``from_dict`` reads it back)."""
        return {"b_noise": self.b_noise, "step_exponent": self.step_exponent}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressModel:
        """The model a ``to_dict`` wrote; InvalidProblemError for missing or bad values."""
        try:
            return cls(float(data["b_noise"]), float(data["step_exponent"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidProblemError(f"progress model {data!r}: {exc}") from None
