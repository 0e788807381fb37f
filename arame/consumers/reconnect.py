"""Reconnecting a consumer's subscriber after the broker went away, for a bounded time."""

from __future__ import annotations

import logging
import threading
import time

from arame.errors import TransportError
from arame.transport import Subscriber

logger = logging.getLogger(__name__)

RECONNECT_FOR = 60.0  # seconds to keep reconnecting before the consumer gives up


def reconnect(subscriber: Subscriber, stopping: threading.Event, cause: TransportError) -> None:
    """Open ``subscriber`` again, backing off from 0.1 s to 5 s, until it works or ``stopping``.

    Raises:
        TransportError: the broker stayed unreachable for longer than ``RECONNECT_FOR``.
    """
    delay, deadline = 0.1, time.monotonic() + RECONNECT_FOR
    logger.warning("%s; reconnecting", cause)
    while not stopping.is_set():
        time.sleep(delay)
        try:
            subscriber.open()
            logger.info("reconnected to the broker")
            return
        except TransportError as exc:
            if time.monotonic() > deadline:
                raise TransportError(
                    f"gave up reconnecting after {RECONNECT_FOR:.0f}s: {exc}", url=exc.url
                ) from exc
            delay = min(delay * 2, 5.0)
