"""How many rounds a run needs to reach a target, as a function of the local steps and the batch.

The model of ``docs/convergence-bound.md`` ("Planning for time to accuracy"): a round's progress toward the
target is a power law of the knobs, so rounds to a target scale as ``R(e, B) = R_ref / (e^a B^b)``. Both
exponents are measured on the run's model and data before round 0 (``fedspan.knob_probe``): ``a`` in [0, 1]
is the efficiency of e local steps (1: worth e synchronous steps; below 1 under client drift, Stich 2019, Wang &
Joshi 2019), ``b`` in [0, 1] what a larger batch buys at the run's fixed learning rate (near 0 when the step's
noise is small next to its signal; McCandlish et al. 2018 measure the same trade-off with the learning rate tuned
per batch). Kept apart from :mod:`optimization.knobs` so :class:`~optimization.problem.SpanningProblem` can carry
one without importing the planner's valuation code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimization.errors import InvalidProblemError


@dataclass(frozen=True)
class ProgressModel:
    """Rounds-to-target model ``R(e, B) / R_ref = 1 / (e ** step_exponent * B ** batch_exponent)``.

    ``step_exponent`` a in [0, 1]: e local steps are worth e^a synchronous steps. ``batch_exponent`` b in [0, 1]:
    a round's progress grows as B^b with the batch B (samples) at the run's learning rate.

    >>> m = ProgressModel(step_exponent=0.5, batch_exponent=0.25)
    >>> m.rounds_factor(4, 16)  # 1 / (4**0.5 * 16**0.25)
    0.25
    >>> m.rounds_factor(1, 1)
    1.0
    """

    step_exponent: float
    batch_exponent: float = 0.0

    def __post_init__(self) -> None:
        for name in ("step_exponent", "batch_exponent"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise InvalidProblemError(f"progress.{name} = {getattr(self, name)!r} must be in [0, 1]")
            object.__setattr__(self, name, value)

    def rounds_factor(self, local_steps: float | np.ndarray, batch_size: float | np.ndarray) -> float | np.ndarray:
        """Rounds to the target relative to R_ref (dimensionless) at e local steps of batch B (samples)."""
        e = np.asarray(local_steps, dtype=float)
        b = np.asarray(batch_size, dtype=float)
        out = 1.0 / (e ** self.step_exponent * b ** self.batch_exponent)
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, float]:
        """JSON-safe form (``from_dict`` reads it back)."""
        return {"step_exponent": self.step_exponent, "batch_exponent": self.batch_exponent}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressModel:
        """The model a ``to_dict`` wrote; InvalidProblemError for missing or bad values."""
        try:
            return cls(float(data["step_exponent"]), float(data["batch_exponent"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidProblemError(f"progress model {data!r}: {exc}") from None
