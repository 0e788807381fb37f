"""The generic cell rate algorithm (GCRA) for a batch: how many may start now, and when the rest.

One number per rate-limited task, the theoretical arrival time (``tat``), is all the shared
state a rate limit needs: a start is allowed while ``tat`` is less than ``burst`` intervals
ahead of now, and each start pushes it one interval on. A second number, ``tail``, lines up the
starts that were refused: each gets the next free time after the previous one, so the waiting
messages come back from the broker spaced at the rate instead of all at once.

The arithmetic is in whole microseconds: an epoch second near 1.8e9 as a float has about 0.24 µs
of resolution, so a sum like ``now + 0.1`` is off by that much and a decision compared against
an exact multiple of the interval would round the wrong way. Integers compare exactly, and an
epoch in microseconds still fits a float column without loss (below 2**53).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Decision:
    """What a batch may do.

    Attributes:
        granted: how many of the batch start now.
        not_before: for each of the others, the epoch second it may come back.
        tat: the new theoretical arrival time (epoch s).
        tail: the new end of the waiting line (epoch s).
    """

    granted: int
    not_before: list[float]
    tat: float
    tail: float


def decide(tat: float, tail: float, now: float, rate: float, burst: int, count: int) -> Decision:
    """Admit up to ``count`` starts at ``now`` under ``rate`` per second with ``burst`` slack.

    After a quiet spell ``burst`` start together; then one per interval.
    """
    interval = interval_micros(rate)
    tolerance = burst * interval
    at = micros(now)
    arrival = max(micros(tat), at)
    room = (at + tolerance - arrival) // interval
    granted = max(0, min(count, room))
    arrival += granted * interval
    waiting = count - granted
    first = max(micros(tail), arrival + interval - tolerance, at)
    not_before = [seconds(first + i * interval) for i in range(waiting)]
    end = seconds(first + waiting * interval) if waiting else tail
    return Decision(granted, not_before, seconds(arrival), end)


def given_back(tat: float, rate: float, count: int) -> float:
    """The theoretical arrival time once ``count`` starts taken at it are returned unused."""
    return seconds(micros(tat) - count * interval_micros(rate))


def default_burst(rate: float) -> int:
    """Slack for a rate: a tenth of a second's worth, at least one start."""
    # rate / 10, not rate * 0.1: 0.1 is inexact, and a product just under a whole number floors low.
    return max(1, math.floor(rate / 10))


def interval_micros(rate: float) -> int:
    """The time between two starts at ``rate`` per second, in whole microseconds (at least one)."""
    return max(1, round(MICROS / rate))


def micros(epoch: float) -> int:
    return round(epoch * MICROS)


def seconds(epoch_micros: int) -> float:
    return epoch_micros / MICROS
