"""The wait loop of ``drain_events`` for arame's own transports (memory, Redis, SQL), written once.

Each transport polls its queues through Kombu's round-robin cycle; between empty polls it waits
its own way (a condition, a Redis wake-up, a PostgreSQL NOTIFY, or a sleep that backs off).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from queue import Empty
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between polls of an idle queue where nothing pushes a wake-up (the back-off's ceiling).
MAX_IDLE_POLL = 0.05
FIRST_IDLE_POLL = 0.001


def drain_one(
    cycle: Any,
    deliver: Callable[..., Any],
    timeout: float | None,
    before_poll: Callable[[], T],
    wait: Callable[[T, float | None], None],
) -> None:
    """Deliver one message from ``cycle``; between empty polls, ``wait``.

    Args:
        cycle: Kombu's cycle over the consumed queues.
        deliver: the transport's delivery callback.
        timeout: seconds to wait at most; ``None`` waits as long as it takes.
        before_poll: called before each poll (to subscribe to wake-ups before looking, so that
            a message published after the look is not missed); its value goes to ``wait``.
        wait: waits after an empty poll, given ``before_poll``'s value and the seconds left
            (``None``: no limit); it may return at once to poll again.

    Raises:
        TimeoutError: nothing arrived within ``timeout`` (what Kombu transports raise).
    """
    start = time.monotonic()
    while True:
        token = before_poll()
        try:
            cycle.get(deliver, timeout=timeout)
            return
        except Empty:
            pass
        remaining = None if timeout is None else timeout - (time.monotonic() - start)
        if remaining is not None and remaining <= 0:
            raise TimeoutError()
        wait(token, remaining)


class Backoff:
    """Sleeps that double from 1 ms up to ``MAX_IDLE_POLL``: prompt at first, cheap when idle."""

    __slots__ = ("pause",)

    def __init__(self) -> None:
        self.pause = FIRST_IDLE_POLL

    def sleep(self, longest: float) -> None:
        """Sleep the current pause (at most ``longest``), then double it."""
        time.sleep(min(self.pause, longest))
        self.pause = min(self.pause * 2, MAX_IDLE_POLL)


def nothing() -> None:
    """A ``before_poll`` for transports with nothing to do before a poll."""
