"""A worker's row in the registry: registered at start, beating while it runs, deleted at the end.

The beats run on a daemon thread of their own, so a slow or unreachable database never holds
up the worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from arame.coordination.worker_registry import BEAT_EVERY

if TYPE_CHECKING:
    from arame.coordination import WorkerBoard

logger = logging.getLogger(__name__)

FIRST_BEAT = 0.5  # soon after start: by then the process pool's children exist and are recorded


class Heartbeat:
    """Registers a worker, beats every ``BEAT_EVERY`` seconds, and deletes its row on ``stop()``.

    Args:
        board: the registry.
        queues: the worker's queues.
        pool: ``"thread"``, ``"process"`` or ``"asyncio"``.
        concurrency: its slots or children.
        children: returns the pids of the process pool's children (none for the thread pool).
    """

    def __init__(
        self,
        board: WorkerBoard,
        queues: Sequence[str],
        pool: str,
        concurrency: int,
        children: Callable[[], Sequence[int]] = tuple,
    ) -> None:
        self.id = uuid.uuid4().hex
        self._board = board
        self._queues, self._pool, self._concurrency = list(queues), pool, concurrency
        self._children = children
        self._stop = threading.Event()
        self._registered = False
        self._thread = threading.Thread(target=self._run, name="arame-heartbeat", daemon=True)

    def start(self) -> None:
        """Register now (so the row is there before the first task runs), then beat on a thread."""
        self._registered = bool(self._quietly("register the worker", self._register))
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and delete the row."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(BEAT_EVERY)
        self._quietly("remove the worker row", lambda: self._board.unregister(self.id))

    def _run(self) -> None:
        registered, wait = self._registered, FIRST_BEAT
        while not self._stop.wait(wait):
            wait = BEAT_EVERY
            if not registered:
                registered = bool(self._quietly("register the worker", self._register))
            elif self._quietly("beat", lambda: self._board.beat(self.id, list(self._children()))) is False:
                registered = bool(self._quietly("register the worker", self._register))  # it was cleared

    def _register(self) -> bool:
        host, pid = socket.gethostname(), os.getpid()
        self._board.register(
            self.id, host=host, pid=pid, queues=self._queues, pool=self._pool, concurrency=self._concurrency
        )
        return True

    def _quietly(self, what: str, action: Callable[[], bool | None]) -> bool | None:
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - the registry is advisory; the worker runs on
            logger.warning("could not %s in the results database: %s", what, exc)
            return None
