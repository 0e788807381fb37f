"""Pace: how long tasks take, which sizes the prefetch window and the claim batches."""

from __future__ import annotations

SHORT_TASK = 0.002  # seconds: tasks shorter than this on average are worth batching
ALPHA = 0.1  # weight of the newest duration in the moving average
WINDOW = 96  # extra messages a consumer holds beyond its slots while tasks are short
MAX_CLAIM = 64  # tasks one slot claims in one transaction


class Pace:
    """A moving average of task durations, and what it implies.

    Short tasks are where per-message round trips dominate, so a consumer of short tasks holds a
    window of messages beyond its slots and claims them in batches. Long tasks gain nothing from
    either and would keep other consumers waiting, so then each slot holds and claims one. The
    window opens below ``SHORT_TASK`` and closes above twice that, so it does not flap.
    """

    def __init__(self) -> None:
        self.mean: float | None = None
        self._short = False

    def ran(self, seconds: float) -> None:
        """Record how long one task took."""
        self.mean = seconds if self.mean is None else self.mean + ALPHA * (seconds - self.mean)
        if self._short and self.mean > 2 * SHORT_TASK:
            self._short = False
        elif not self._short and self.mean < SHORT_TASK:
            self._short = True

    @property
    def short(self) -> bool:
        """Whether tasks have been short lately."""
        return self._short

    def window(self) -> int:
        """How many messages to hold beyond the slots."""
        return WINDOW if self._short else 0

    def claim_size(self, ready: int, slots: int) -> int:
        """How many of ``ready`` messages one of ``slots`` slots should claim at once."""
        if not self._short:
            return 1
        return max(1, min(MAX_CLAIM, -(-ready // slots)))
