"""When an idle SQL consumer should next look: the earliest ``not_before`` of its queues."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

REFRESH = 1.0  # seconds a known due time is trusted before asking the database again
MARGIN = 0.001  # seconds slept past the due time, so the fetch that follows finds the row due


class DueTimes:
    """The earliest due time of the consumed queues, looked up at most once a ``REFRESH``.

    Asked again sooner when that time has passed (the row was fetched; which is next?), when the
    queues change, or after ``forget`` (a NOTIFY announced a row that may be due sooner). A row
    published by another process in between is still found by the regular polls, only less
    precisely: at worst one poll interval late, until the next lookup learns its due time.

    Args:
        lookup: the earliest future ``not_before`` among some queues, or ``None``.
    """

    def __init__(self, lookup: Callable[[list[str]], float | None]) -> None:
        self._lookup = lookup
        self._queues: list[str] = []
        self._due: float | None = None
        self._checked: float | None = None  # monotonic time of the last lookup

    def seconds_until(self, queues: list[str]) -> float:
        """Seconds until the earliest delayed message of ``queues`` is due (``inf`` if none)."""
        now = time.monotonic()
        if (
            self._checked is None
            or now - self._checked >= REFRESH
            or queues != self._queues
            or (self._due is not None and self._due <= time.time())
        ):
            self._due = self._lookup(queues)
            self._queues, self._checked = queues, now
        if self._due is None:
            return math.inf
        return max(0.0, self._due - time.time()) + MARGIN

    def forget(self) -> None:
        """Look the due time up again at the next ``seconds_until``."""
        self._checked = None
