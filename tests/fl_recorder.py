"""A training backend wrapper that records every round's work and update (for tests)."""

from __future__ import annotations

from fedspan.backend import RoundUpdate, RoundWork, TrainingBackend


class Recorder:
    """Wraps a backend and keeps every round's ``(work, update)`` in ``rounds``."""

    def __init__(self, inner: TrainingBackend) -> None:
        self.inner, self.rounds = inner, []

    def run_round(self, work: RoundWork) -> RoundUpdate:
        update = self.inner.run_round(work)
        self.rounds.append((work, update))
        return update
