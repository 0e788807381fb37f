"""Which queues a consumer takes from: its own but the paused ones, and their busy fair sub-queues.

Both answers come from the results database (and, for the sub-queues, the broker's queue
sizes), read on daemon threads (``PauseWatch``, ``FairWatch``) so neither a slow database nor a
slow count ever holds up fetching; the draining thread only applies them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from arame.consumers.heartbeat import PauseWatch, WorkerBoard
from arame.consumers.polling import Poller
from arame.errors import TransportError
from arame.transport import BrokerSpec, SizeReader, Subscriber

logger = logging.getLogger(__name__)

FAIR_POLL = 1.0  # seconds between looks at the registry of fair sub-queues and their sizes
FORGET_EVERY = 30.0  # seconds between offers to forget the sub-queues found empty
NOTHING: frozenset[str] = frozenset()


class FairBoard(Protocol):
    """The registry of fair sub-queues (``arame.coordination.fair_queues``)."""

    def fair_queues(self, parents: Sequence[str]) -> dict[str, str]:
        """The registered sub-queues of ``parents``, each with its parent."""

    def forget_fair_queues(self, subqueues: Sequence[str]) -> list[str]:
        """Forget those of ``subqueues`` (found empty) no task needs; return them."""


class FairWatch:
    """Once a second: the registered sub-queues of the consumer's queues, and which hold messages.

    Only those are consumed: on Redis and SQL each poll of a queue is a round trip, and a worker
    would otherwise spend one on every idle tenant for every task it fetches. A sub-queue that
    gets a message (a publish, a delayed task come due, a dead worker's task back) is consumed
    from the next look on.

    Args:
        board: the registry.
        spec: the broker, whose queue sizes are read on a connection of the watch's own.
        queues: the consumer's queues.
    """

    def __init__(self, board: FairBoard, spec: BrokerSpec, queues: Sequence[str]) -> None:
        self._board = board
        self._sizes = SizeReader(spec)
        self._queues = list(queues)
        self.subqueues: dict[str, str] = {}
        self.ready = NOTHING  # registered sub-queues holding ready messages at the last look
        self._offered = time.monotonic()
        self._poller = Poller("arame-fair", FAIR_POLL, self._look, after=self._sizes.close)

    def start(self) -> None:
        """Look now (a burst worker must see the sub-queues at once), then once a second."""
        self._poller.start()

    def stop(self) -> None:
        """Stop looking."""
        self._poller.stop()

    def _look(self) -> None:
        found = self._quietly(functools.partial(self._board.fair_queues, self._queues))
        if found is None:
            return  # keep the last answer while the database is away
        try:
            sizes = self._sizes.sizes(sorted(found)) if found else {}
        except TransportError as exc:
            logger.warning("could not read the sizes of the fair sub-queues: %s", exc)
            return
        self.subqueues = found
        self.ready = frozenset(sub for sub, size in sizes.items() if size > 0)
        empty = [sub for sub, size in sizes.items() if size == 0]
        if empty and time.monotonic() - self._offered > FORGET_EVERY:
            self._offered = time.monotonic()
            self._quietly(functools.partial(self._board.forget_fair_queues, empty))

    def _quietly(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - the registry is read again in a second
            logger.warning("could not read the fair sub-queues in the results database: %s", exc)
            return None


class Steering:
    """Applies the pause rows and the busy fair sub-queues to a ``Subscriber``.

    Args:
        spec: the broker.
        queues: the consumer's queues.
        board: where the pause rows are (none: nothing is ever paused).
        fair: the registry of fair sub-queues (none: only ``queues`` are consumed).
    """

    def __init__(
        self, spec: BrokerSpec, queues: Sequence[str], board: WorkerBoard | None, fair: FairBoard | None
    ) -> None:
        self._pauses = PauseWatch(board, queues) if board is not None else None
        self._fair = FairWatch(fair, spec, queues) if fair is not None else None
        self._started = False
        self._seen: tuple[frozenset[str], frozenset[str]] = (NOTHING, NOTHING)
        self._followed = NOTHING

    def apply(self, subscriber: Subscriber) -> None:
        """Consume the queues not paused and their sub-queues that hold messages (call it on
        the draining thread).

        Raises:
            TransportError: the connection was lost.
        """
        if not self._started:
            self._started = True
            for watch in (self._pauses, self._fair):
                if watch is not None:
                    watch.start()
        paused = self._pauses.paused if self._pauses is not None else NOTHING
        ready = self._fair.ready if self._fair is not None else NOTHING
        if ready is not self._seen[0] or paused is not self._seen[1]:  # else nothing changed
            self._seen = (ready, paused)
            parents = self._fair.subqueues if self._fair is not None else {}
            self._followed = frozenset(sub for sub in ready if parents.get(sub) not in paused)
        subscriber.steer(paused, self._followed)

    def stop(self) -> None:
        """Stop reading the database."""
        for watch in (self._pauses, self._fair):
            if watch is not None:
                watch.stop()
