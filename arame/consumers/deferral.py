"""Deferring: tasks an extension holds back at claim time go back to the broker, delayed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from arame.consumers.retry_publisher import RetryPublisher
from arame.errors import TransportError
from arame.extensions import Held
from arame.transport import Delivery

logger = logging.getLogger(__name__)


class Deferring:
    """The consumer's ``Deferral`` (see ``Extension.before_claim``).

    Each message is published again to run at its epoch second (the same id and attempt, a later
    ``eta``), and its delivery acknowledged only once the broker holds the delayed copy, so it is
    never lost (at worst it is there twice: the claim runs one). If the broker refuses, the
    deliveries are given back.

    Args:
        retries: publishes the delayed copies.
        settle: acknowledges a delivery (``True``) or gives it back (``False``).
    """

    def __init__(self, retries: RetryPublisher, settle: Callable[[Delivery, bool], None]) -> None:
        self._retries = retries
        self._settle = settle

    def __call__(self, waiting: Sequence[tuple[Held, float]]) -> None:
        try:
            self._retries.publish_later([replace(message, eta=at) for (message, _), at in waiting])
        except TransportError as exc:
            logger.warning("could not put %d held-back task(s) back in the broker: %s", len(waiting), exc)
            for (_, delivery), _ in waiting:
                self._settle(delivery, False)
            return
        for (_, delivery), _ in waiting:
            self._settle(delivery, True)
