"""The generic cell rate algorithm (GCRA) for a batch: how many may start now, and when the rest.

One number per rate-limited task, the theoretical arrival time (``tat``), is all the shared
state a rate limit needs: a start is allowed while ``tat`` is less than ``burst`` intervals
ahead of now, and each start pushes it one interval on. A second number, ``tail``, lines up the
starts that were refused: each gets the next free time after the previous one, so the waiting
messages come back from the broker spaced at the rate instead of all at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """What a batch may do.

    Attributes:
        granted: how many of the batch start now.
        not_before: for each of the others, the epoch second it may come back.
        tat: the new theoretical arrival time.
        tail: the new end of the waiting line.
    """

    granted: int
    not_before: list[float]
    tat: float
    tail: float


def decide(tat: float, tail: float, now: float, rate: float, burst: int, count: int) -> Decision:
    """Admit up to ``count`` starts at ``now`` under ``rate`` per second with ``burst`` slack."""
    interval = 1.0 / rate
    tolerance = burst * interval
    tat = max(tat, now)
    room = math.floor((now + tolerance - tat) / interval + 1e-9)
    granted = max(0, min(count, room))
    tat += granted * interval
    waiting = count - granted
    first = max(tail, tat + interval - tolerance, now)
    not_before = [first + i * interval for i in range(waiting)]
    return Decision(granted, not_before, tat, first + waiting * interval if waiting else tail)


def default_burst(rate: float) -> int:
    """Slack for a rate: a tenth of a second's worth, at least one start."""
    return max(1, math.floor(rate * 0.1))
