"""Steering a worker from the results database: its heartbeat row and the queues paused there.

The App wires in a ``WorkerBoard`` (the registry and pause rows); consumers/ never imports
results/. Both loops run on their own daemon threads, so a slow or unreachable database never
holds up fetching or acknowledging; the draining thread only compares two small sets.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

from arame.consumers.polling import Poller

logger = logging.getLogger(__name__)

BEAT_EVERY = 5.0  # seconds between heartbeats
FIRST_BEAT = 0.5  # soon after start: by then the process pool's children exist and are recorded
PAUSE_POLL = 1.0  # seconds between looks at the pause rows, per consumer


class WorkerBoard(Protocol):
    """Where a worker registers, beats, and learns which of its queues are paused."""

    def register(
        self, worker_id: str, *, host: str, pid: int, queues: Sequence[str], pool: str, concurrency: int
    ) -> None:
        """Add the worker's row."""

    def beat(self, worker_id: str, children: Sequence[int]) -> bool:
        """Record a heartbeat; ``False`` if the row is gone."""

    def unregister(self, worker_id: str) -> None:
        """Delete the worker's row."""

    def paused(self, queues: Sequence[str]) -> set[str]:
        """Which of ``queues`` are paused."""


class Heartbeat:
    """Registers a worker, beats every ``BEAT_EVERY`` seconds, and deletes its row on ``stop()``.

    Args:
        board: the registry.
        queues: the worker's queues.
        pool: ``"thread"`` or ``"process"``.
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


@contextmanager
def registered(
    board: WorkerBoard | None,
    queues: Sequence[str],
    pool: str,
    concurrency: int,
    child_pids: Callable[[], list[int]],
) -> Iterator[None]:
    """Steering: the worker's row in the registry, beating while it runs, deleted after."""
    if board is None:
        yield
        return
    heartbeat = Heartbeat(board, queues, pool, concurrency, child_pids)
    heartbeat.start()
    try:
        yield
    finally:
        heartbeat.stop()
