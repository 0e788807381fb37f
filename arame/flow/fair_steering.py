"""Fair shares in the worker: a consumer also takes from the busy fair sub-queues of its queues.

The registry of sub-queues is read from the results database and their sizes from the broker,
on a daemon thread (``FairWatch``), so neither a slow database nor a slow count ever holds up
fetching; the draining thread only applies the answer (``FairSteering``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from arame.coordination.fair_queues import FairRegistry
from arame.errors import TransportError
from arame.extensions import Extension
from arame.polling import Poller
from arame.transport import SizeReader

if TYPE_CHECKING:
    from arame.app import App
    from arame.transport import BrokerSpec, Subscriber

logger = logging.getLogger(__name__)

FAIR_POLL = 1.0  # seconds between looks at the registry of fair sub-queues and their sizes
FORGET_EVERY = 30.0  # seconds between offers to forget the sub-queues found empty
NOTHING: frozenset[str] = frozenset()


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

    def __init__(self, board: FairRegistry, spec: BrokerSpec, queues: Sequence[str]) -> None:
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
        found = self._quietly(functools.partial(self._board.active, self._queues))
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
            self._quietly(functools.partial(self._board.forget, empty))

    def _quietly(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - the registry is read again in a second
            logger.warning("could not read the fair sub-queues in the results database: %s", exc)
            return None


class FairSteering:
    """A consumer's ``Steering``: it also takes from the busy fair sub-queues of its queues, but
    those of a paused queue (applied after the pauses, it reads the subscriber's paused queues).

    Args:
        watch: reads the registry of fair sub-queues and their sizes.
    """

    def __init__(self, watch: FairWatch) -> None:
        self._watch = watch
        self._started = False
        self._seen: tuple[frozenset[str], frozenset[str]] = (NOTHING, NOTHING)
        self._followed = NOTHING

    def apply(self, subscriber: Subscriber) -> None:
        """Consume the sub-queues that hold messages (call it on the draining thread).

        Raises:
            TransportError: the connection was lost.
        """
        if not self._started:
            self._started = True
            self._watch.start()
        ready, paused = self._watch.ready, subscriber.paused
        if ready is not self._seen[0] or paused is not self._seen[1]:  # else nothing changed
            self._seen = (ready, paused)
            parents = self._watch.subqueues
            self._followed = frozenset(sub for sub in ready if parents.get(sub) not in paused)
        subscriber.steer(paused, self._followed)

    def stop(self) -> None:
        """Stop reading the registry."""
        self._watch.stop()


class FairFollowing(Extension):
    """Fair shares, the worker's half: a consumer follows the busy sub-queues of its queues.

    Only when a task of the app has a ``fair_key`` (else no sub-queue is ever made).

    Args:
        app: whose tasks, and whose results database holds the registry of sub-queues.
    """

    def __init__(self, app: App) -> None:
        self._app = app

    def steering(self, spec: BrokerSpec, queues: Sequence[str]) -> FairSteering | None:
        if not any(task.options.fair_key is not None for task in self._app.tasks.values()):
            return None
        return FairSteering(FairWatch(FairRegistry(self._app.results), spec, queues))
