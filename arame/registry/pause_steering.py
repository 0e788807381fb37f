"""Paused queues: read from the results database on a thread, left alone by each consumer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arame.polling import Poller

if TYPE_CHECKING:
    from arame.coordination import WorkerBoard
    from arame.transport import Subscriber

logger = logging.getLogger(__name__)

PAUSE_POLL = 1.0  # seconds between looks at the pause rows, per consumer


class PauseWatch:
    """Looks at the pause rows once a second on a daemon thread; the consumer applies the answer.

    Args:
        board: where the pause rows are.
        queues: the consumer's queues.
    """

    def __init__(self, board: WorkerBoard, queues: Sequence[str]) -> None:
        self._board = board
        self._queues = list(queues)
        self.paused: frozenset[str] = frozenset()
        self._poller = Poller("arame-pauses", PAUSE_POLL, self._look)

    @property
    def started(self) -> bool:
        """Whether ``start()`` was called."""
        return self._poller.started

    def start(self) -> None:
        """Read the pause rows now (so a paused queue is never consumed at start), then poll."""
        self._poller.start()

    def stop(self) -> None:
        """Stop polling."""
        self._poller.stop()

    def _look(self) -> None:
        try:
            self.paused = frozenset(self._board.paused(self._queues))
        except Exception as exc:  # noqa: BLE001 - keep the last answer while the database is away
            logger.warning("could not read paused queues from the results database: %s", exc)


class PauseSteering:
    """A consumer's ``Steering``: its paused queues are not consumed (the draining thread only
    compares two small sets; the rows are read by a ``PauseWatch``).

    Args:
        watch: reads the pause rows of the consumer's queues.
    """

    def __init__(self, watch: PauseWatch) -> None:
        self._watch = watch

    def apply(self, subscriber: Subscriber) -> None:
        """Pause the queues paused in the database, resume the others; followed queues stay.

        Raises:
            TransportError: the connection was lost.
        """
        if not self._watch.started:
            self._watch.start()
        subscriber.steer(self._watch.paused, subscriber.followed)

    def stop(self) -> None:
        """Stop reading the pause rows."""
        self._watch.stop()
