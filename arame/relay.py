"""The outbox relay: a worker publishes the committed tasks whose own publish did not happen.

A task enqueued in a caller's transaction is published by the caller right after the commit.
When that fails (the process died, the broker was down), its outbox row outlives its lease and
the relay of any running worker takes it, publishes it from its results row, and deletes it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arame.consumers.outcomes import failed, worker_name
from arame.errors import ArameError, PublishError
from arame.message import TaskMessage
from arame.polling import Poller
from arame.results.outbox_rows import OutboxRows

if TYPE_CHECKING:
    from arame.app import App

logger = logging.getLogger(__name__)

RELAY_EVERY = 1.0  # seconds between looks at the outbox
TAKE_FOR = 10.0  # seconds a taken row is this relay's alone (a publish retries for less)
BATCH = 100


class OutboxRelay:
    """Publishes the outbox rows whose lease ran out, once a second on a daemon thread.

    Args:
        app: the app whose results database holds the outbox and whose producer publishes.
        queues: the queues it publishes for (the results database may hold other apps' rows).
    """

    def __init__(self, app: App, queues: Sequence[str]) -> None:
        self._app = app
        self._queues = sorted(queues)
        self._rows = OutboxRows(app.results)
        self._poller = Poller("arame-relay", RELAY_EVERY, self._look)

    def start(self) -> None:
        """Look now, then every ``RELAY_EVERY`` seconds."""
        self._poller.start()

    def stop(self) -> None:
        """Stop looking."""
        self._poller.stop()

    def relay(self) -> int:
        """Publish what is due now; return how many tasks were published.

        Raises:
            ArameError: the results database or the broker did not answer.
        """
        published = 0
        while True:
            taken = self._rows.take_due(TAKE_FOR, self._queues, BATCH)
            messages = self._publishable(taken)
            if not messages:
                if len(taken) < BATCH:
                    return published
                continue
            ids = [message.id for message in messages]
            try:
                self._app.producer.publish_many(messages)
            except ArameError:
                self._rows.release(ids)  # the next look tries again, whichever relay it is
                raise
            self._rows.published(ids)
            published += len(messages)
            logger.info("published %d committed task(s) from the outbox", len(messages))
            if len(taken) < BATCH:
                return published

    def _publishable(self, messages: list[TaskMessage]) -> list[TaskMessage]:
        """``messages`` less those no broker would take (too large for this app's limit), which
        end in FAILURE: else they would fail every batch they are in, and the rows after them."""
        kept: list[TaskMessage] = []
        for message in messages:
            try:
                self._app.producer.check(message)
            except PublishError as exc:
                logger.error("task %s cannot be published from the outbox: %s", message.id, exc)
                reason = f"could not be published from the outbox: {exc}"
                self._app.results.record([failed(message, worker_name(), "PublishError", reason)])
                self._rows.published([message.id])
            else:
                kept.append(message)
        return kept

    def _look(self) -> None:
        try:
            self.relay()
        except ArameError as exc:
            logger.warning("the outbox relay could not publish: %s", exc)
