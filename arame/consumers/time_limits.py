"""Time limits: a watchdog that interrupts tasks running past their soft or hard limit.

The soft limit raises ``SoftTimeLimitExceeded`` inside the task, which may catch it to clean up.
The hard limit, in the process pool, records ``TimeLimitExceeded`` and ends the child process,
which the supervisor replaces. A thread cannot be killed, so in the thread pool the hard limit
raises ``TimeLimitExceeded`` inside the task instead. Both are raised between Python bytecodes:
a task blocked inside one C call (a socket read without a timeout, ``time.sleep``) sees them only
when that call returns.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arame.consumers import outcomes
from arame.consumers.atomic_tasks import execute_atomically
from arame.consumers.execute import execute
from arame.consumers.recorder import ResultRecorder, TaskTransaction
from arame.errors import SoftTimeLimitExceeded, TimeLimitExceeded
from arame.message import TaskMessage
from arame.states import Outcome
from arame.task import Task

if TYPE_CHECKING:
    from arame.extensions import Extensions

logger = logging.getLogger(__name__)

TICK = 0.05  # seconds between checks: the precision of the limits
EXIT_TIME_LIMIT = 4  # a process-pool child that ended a task at its hard time limit
REVOKE_POLL = 1.0  # seconds between looks for running tasks revoked with terminate=True


@dataclass(slots=True)
class _Watch:
    thread_id: int
    soft_at: float | None
    hard_at: float | None
    on_hard: Callable[[], None]


class Watchdog:
    """Watches running tasks and acts when one passes its limit, or is revoked with terminate.

    Args:
        kill_on_hard: in the process pool, call the watch's ``on_hard`` (record, then exit)
            instead of raising inside the thread.
        terminated: given the ids of running tasks, those revoked with ``terminate=True``; for
            each, the watch's ``on_hard`` is called (the process pool ends the child). Polled
            every ``REVOKE_POLL`` seconds.
    """

    def __init__(
        self, *, kill_on_hard: bool, terminated: Callable[[list[str]], set[str]] | None = None
    ) -> None:
        self._kill_on_hard = kill_on_hard
        self._terminated = terminated
        self._watches: dict[str, _Watch] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_revoke_poll = 0.0

    def watch(self, key: str, soft: float | None, hard: float | None, on_hard: Callable[[], None]) -> None:
        """Start watching the calling thread's task, ``key`` being its id."""
        now = time.monotonic()
        watch = _Watch(
            threading.get_ident(),
            None if soft is None else now + soft,
            None if hard is None else now + hard,
            on_hard,
        )
        with self._lock:
            self._watches[key] = watch
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="arame-watchdog", daemon=True)
                self._thread.start()

    def release(self, key: str) -> None:
        """Stop watching ``key`` (its task returned)."""
        with self._lock:
            self._watches.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(TICK)
            now = time.monotonic()
            kill: list[Callable[[], None]] = []
            # Under the lock: once release() returned, nothing more is raised in that thread.
            with self._lock:
                for key, watch in list(self._watches.items()):
                    if watch.hard_at is not None and now >= watch.hard_at:
                        del self._watches[key]
                        if self._kill_on_hard:
                            kill.append(watch.on_hard)
                        else:
                            _raise_in(watch.thread_id, TimeLimitExceeded)
                    elif watch.soft_at is not None and now >= watch.soft_at:
                        watch.soft_at = None  # once
                        _raise_in(watch.thread_id, SoftTimeLimitExceeded)
            kill.extend(self._revoked(now))
            for on_hard in kill:
                on_hard()

    def _revoked(self, now: float) -> list[Callable[[], None]]:
        if self._terminated is None or now < self._next_revoke_poll:
            return []
        self._next_revoke_poll = now + REVOKE_POLL
        with self._lock:
            running = list(self._watches)
        if not running:
            return []
        try:
            revoked = self._terminated(running)
        except Exception as exc:  # noqa: BLE001 - the database is away: look again next time
            logger.warning("could not check for revoked tasks: %s", exc)
            return []
        with self._lock:
            return [self._watches.pop(key).on_hard for key in revoked if key in self._watches]


def _raise_in(thread_id: int, kind: type[BaseException]) -> None:
    """Raise ``kind`` in another thread at its next bytecode (CPython's async exceptions)."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(kind))
    if done != 1:
        logger.warning("could not interrupt thread %s (%s)", thread_id, kind.__name__)


class TimeLimits:
    """Runs tasks under their soft and hard time limits, which a ``Watchdog`` enforces.

    Args:
        recorder: where a process-pool child records a task it ends at the hard limit.
        kill_on_hard: a task past its hard time limit ends this process (process pool)
            instead of being interrupted inside its thread.
        extensions: act around each task's code (see ``execute``).
    """

    def __init__(
        self, recorder: ResultRecorder, *, kill_on_hard: bool, extensions: Extensions | None = None
    ) -> None:
        self._recorder = recorder
        self._extensions = extensions
        self._kill_on_hard = kill_on_hard
        self._atomic: dict[str, TaskTransaction] = {}  # atomic tasks' open transactions, by task id
        # Terminating a running task needs a process to end: only the process pool can.
        self._watchdog = Watchdog(
            kill_on_hard=kill_on_hard, terminated=recorder.terminated if kill_on_hard else None
        )

    def run(self, task: Task[Any, Any], message: TaskMessage, worker: str) -> Outcome:
        """Run ``task`` as ``message`` asks, within its limits; say how it ended (see ``execute``)."""
        options = task.options
        if options.time_limit is None and options.soft_time_limit is None and not self._kill_on_hard:
            return self._execute(task, message, worker)
        watched = message.id
        outcome: Outcome | None = None
        try:
            self._watchdog.watch(
                watched, options.soft_time_limit, options.time_limit, lambda: self._die(message, worker)
            )
            outcome = self._execute(task, message, worker)
            self._watchdog.release(watched)
        except (SoftTimeLimitExceeded, TimeLimitExceeded) as exc:
            # Raised in the instant between the task's return and the release: the task ran out.
            self._watchdog.release(watched)
            outcome = outcome or outcomes.over_limit(message, worker, type(exc))
        return outcome

    def _execute(self, task: Task[Any, Any], message: TaskMessage, worker: str) -> Outcome:
        if task.options.atomic:
            return execute_atomically(self._recorder, task, message, worker, self._atomic, self._extensions)
        return execute(task, message, worker, self._extensions)

    def _die(self, message: TaskMessage, worker: str) -> None:
        """Process pool, hard limit or terminate: record the failure, end this child (it is replaced).

        A terminated task's row already reads REVOKED, and a terminal row is never overwritten.
        """
        transaction = self._atomic.pop(message.id, None)
        if transaction is not None:  # SQLite: its write lock would keep the failure out
            transaction.abandon()
        try:
            self._recorder.record([outcomes.over_limit(message, worker, TimeLimitExceeded)])
        except Exception as exc:  # noqa: BLE001 - the message comes back and the limit applies again
            logger.error("could not record the time limit of task %s: %s", message.id, exc)
        logger.error("task %s passed its time limit or was terminated; this child process ends", message.id)
        logging.shutdown()
        os._exit(EXIT_TIME_LIMIT)
