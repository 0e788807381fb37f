"""Which queues a consumer takes from: its own but the paused ones, and their fair sub-queues.

Both answers come from the results database, read on daemon threads (``PauseWatch``,
``FairWatch``) so a slow database never holds up fetching; the draining thread applies them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from arame.consumers.heartbeat import PauseWatch, WorkerBoard
from arame.transport import Subscriber

logger = logging.getLogger(__name__)

FAIR_POLL = 1.0  # seconds between looks at the registry of fair sub-queues
FORGET_EVERY = 30.0  # seconds between offers to forget the followed sub-queues found empty
NOTHING: frozenset[str] = frozenset()


class FairBoard(Protocol):
    """The registry of fair sub-queues (``arame.results.fair``)."""

    def fair_queues(self, parents: Sequence[str]) -> dict[str, str]:
        """The registered sub-queues of ``parents``, each with its parent."""

    def forget_fair_queues(self, subqueues: Sequence[str]) -> list[str]:
        """Forget those of ``subqueues`` (found empty) no task needs; return them."""


class FairWatch:
    """Reads the fair sub-queues of the consumer's queues once a second, and forgets idle ones.

    Args:
        board: the registry.
        queues: the consumer's queues.
    """

    def __init__(self, board: FairBoard, queues: Sequence[str]) -> None:
        self._board = board
        self._queues = list(queues)
        self.subqueues: dict[str, str] = {}
        self._empty: list[str] = []  # handed over by the draining thread, forgotten on ours
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arame-fair", daemon=True)

    def start(self) -> None:
        """Read the registry now (a burst worker must see the sub-queues at once), then poll."""
        self._look()
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()

    def offer(self, empty: list[str]) -> None:
        """Sub-queues the broker found empty: forgotten next round if no task needs them."""
        self._empty = empty

    def _run(self) -> None:
        while not self._stop.wait(FAIR_POLL):
            empty, self._empty = self._empty, []
            if empty:
                self._quietly(functools.partial(self._board.forget_fair_queues, empty))
            self._look()

    def _look(self) -> None:
        found = self._quietly(lambda: self._board.fair_queues(self._queues))
        if found is not None:
            self.subqueues = found

    def _quietly(self, read: Callable[[], dict[str, str] | list[str]]) -> Any:
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - keep the last answer while the database is away
            logger.warning("could not read the fair sub-queues in the results database: %s", exc)
            return None


class Steering:
    """Applies the pause rows and the fair sub-queues to a ``Subscriber``.

    Args:
        queues: the consumer's queues.
        board: where the pause rows are (none: nothing is ever paused).
        fair: the registry of fair sub-queues (none: only ``queues`` are consumed).
    """

    def __init__(self, queues: Sequence[str], board: WorkerBoard | None, fair: FairBoard | None) -> None:
        self._pauses = PauseWatch(board, queues) if board is not None else None
        self._fair = FairWatch(fair, queues) if fair is not None else None
        self._started = False
        self._offered = time.monotonic()
        self._seen: tuple[dict[str, str], frozenset[str]] = ({}, NOTHING)
        self._followed = NOTHING

    def apply(self, subscriber: Subscriber) -> None:
        """Consume the queues not paused and their sub-queues (call it on the draining thread).

        Raises:
            TransportError: the connection was lost.
        """
        if not self._started:
            self._started = True
            for watch in (self._pauses, self._fair):
                if watch is not None:
                    watch.start()
        paused = self._pauses.paused if self._pauses is not None else NOTHING
        subqueues = self._fair.subqueues if self._fair is not None else self._seen[0]
        if subqueues is not self._seen[0] or paused is not self._seen[1]:  # else nothing changed
            self._seen = (subqueues, paused)
            self._followed = frozenset(sub for sub, parent in subqueues.items() if parent not in paused)
        followed = self._followed
        subscriber.steer(paused, followed)
        if self._fair is not None and followed and time.monotonic() - self._offered > FORGET_EVERY:
            self._offered = time.monotonic()
            sizes = subscriber.queue_sizes()
            self._fair.offer([sub for sub in sorted(followed) if sizes.get(sub) == 0])

    def stop(self) -> None:
        """Stop reading the database."""
        for watch in (self._pauses, self._fair):
            if watch is not None:
                watch.stop()
