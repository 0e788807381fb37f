"""Publishing behind the caller (``App(publish_in_background=True)``).

``delay()`` returns once the task's PENDING row and its outbox row are committed (on PostgreSQL
without waiting for the disk, as a PENDING row always is); a thread of the process publishes the
message right after and deletes the outbox row. The caller waits for the database only, not for
the broker's confirm. Should the process die first, or the broker be down, any worker of the app
publishes the task from its row within seconds (the outbox relay, ``arame.relay``).
docs/guarantees.md says what this keeps and what it does not.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from arame.message import TaskMessage
from arame.outbox import PUBLISH_LEASE, outbox_takes, publish_committed
from arame.results.outbox_rows import OutboxRows

if TYPE_CHECKING:
    from arame.app import App

#: A publish of fewer tasks than this waits this long for more first (seconds).
GATHER_UP_TO, GATHER_FOR = 100, 0.002

#: At interpreter exit, how long the publishes still waiting may take before the relay is left
#: to publish them.
FLUSH_AT_EXIT = 5.0


class BackgroundPublisher:
    """Writes the rows of published tasks on the caller's thread; publishes them on its own.

    Args:
        app: the app whose results database and broker it uses.
    """

    def __init__(self, app: App) -> None:
        self._app = app
        self._pid = -1
        self._changed = threading.Condition()
        self._waiting: list[tuple[TaskMessage, str]] = []
        self._publishing = False

    def takes(self, messages: Sequence[TaskMessage]) -> bool:
        """Whether these are published behind the caller (``outbox_takes``); else the
        synchronous way."""
        return outbox_takes(self._app, messages)

    def add(self, messages: Sequence[TaskMessage], bodies: Sequence[str]) -> None:
        """Commit the rows of ``messages``; publish them on the publishing thread.

        Raises:
            PublishError: one of them can never be published (too large): nothing was written.
            ResultStoreError: the rows could not be written; nothing will be published.
        """
        for message, body in zip(messages, bodies, strict=True):
            self._app.producer.check(message, body)
        OutboxRows(self._app.results).write_own(messages, bodies, PUBLISH_LEASE)
        with self._changed:
            if self._pid != os.getpid():  # a forked child: the parent's thread and list are not ours
                self._start()
            self._waiting.extend(zip(messages, bodies, strict=True))
            self._changed.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every task added so far was published (or left to the relay); ``False`` on
        timeout."""
        with self._changed:
            if self._pid != os.getpid():
                return True
            return self._changed.wait_for(lambda: not self._waiting and not self._publishing, timeout)

    def _start(self) -> None:
        self._pid, self._waiting, self._publishing = os.getpid(), [], False
        thread = threading.Thread(target=_publish_forever, args=(weakref.ref(self),), daemon=True)
        thread.name = "arame-publisher"
        thread.start()
        atexit.register(_flush_at_exit, weakref.ref(self))

    def _next_batch(self) -> list[tuple[TaskMessage, str]]:
        """Wait for tasks to publish (a second at most: the thread then looks whether its
        publisher is still there); what waits, maybe nothing."""
        with self._changed:
            self._publishing = False
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: bool(self._waiting), timeout=1.0):
                return []
            few = len(self._waiting) < GATHER_UP_TO
        if few:
            # A caller publishing in a loop adds more meanwhile: one publish and one delete for
            # many tasks leaves the caller's thread and the database more of their time.
            time.sleep(GATHER_FOR)
        with self._changed:
            batch, self._waiting = self._waiting, []
            self._publishing = bool(batch)
            return batch

    def _publish(self, batch: list[tuple[TaskMessage, str]]) -> None:
        publish_committed(self._app, OutboxRows(self._app.results), batch)


def _publish_forever(ref: weakref.ref[BackgroundPublisher]) -> None:
    """The publishing thread: holds its publisher only while it publishes, so an app that is
    dropped lets it end."""
    while True:
        publisher: Any = ref()
        if publisher is None:
            return
        batch = publisher._next_batch()
        if batch:
            publisher._publish(batch)
        del publisher


def _flush_at_exit(ref: weakref.ref[BackgroundPublisher]) -> None:
    publisher = ref()
    if publisher is not None:
        publisher.flush(FLUSH_AT_EXIT)
