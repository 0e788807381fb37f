"""AsyncResult: a handle on one task id, read from the results table."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from arame import errors, states
from arame.current import registry
from arame.errors import TaskFailed, UnknownTaskError
from arame.results.result_store import ResultRow, ResultStore

if TYPE_CHECKING:
    from arame.app import App

#: Seconds ``get`` waits for the row of an id it cannot find: another process may be committing it.
UNKNOWN_GRACE = 1.5
# aget polls on the event loop: first after 5 ms, doubling up to 200 ms (a row read per poll).
ASYNC_FIRST_POLL, ASYNC_MAX_POLL = 0.005, 0.2
_ERROR_STATES = frozenset({states.FAILURE, states.REVOKED, states.RETRY})


class AsyncResult:
    """The state and outcome of one task, as the results table records them.

    Every property reads the table afresh; nothing is cached, so a handle never goes stale.

    ``AsyncResult(task_id)`` reads through the current app (the one made last, as
    ``shared_task`` publishes), ``AsyncResult(task_id, app=app)`` through ``app``: Celery's
    spellings of ``app.AsyncResult(task_id)``.

    Args:
        task_id: the task's id.
        store: where its row lives; default: the results database of ``app``.
        app: the app whose results database to read; default: the current app.

    Raises:
        ConfigurationError: neither ``store`` nor ``app`` given, and no App exists yet.
    """

    __slots__ = ("_store", "id")

    def __init__(self, task_id: str, store: ResultStore | None = None, *, app: App | None = None) -> None:
        self.id = task_id
        if store is None:
            store = (app or registry.current_app("AsyncResult(task_id), or give app=")).results
        self._store = store

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def state(self) -> str:
        """``PENDING``, ``STARTED``, ``RETRY``, ``SUCCESS``, ``FAILURE``, ``REVOKED`` or ``UNKNOWN``."""
        state = self._store.state_of(self.id)  # the state alone: polled often, the message not needed
        return states.UNKNOWN if state is None else state

    @property
    def status(self) -> str:
        """Celery's name for :attr:`state`."""
        return self.state

    @property
    def task_id(self) -> str:
        """Celery's name for :attr:`id`."""
        return self.id

    @property
    def name(self) -> str | None:
        """The task's registered name, or ``None`` for an id no one published."""
        row = self._store.read(self.id)
        return None if row is None else row.task_name

    @property
    def info(self) -> Any:
        """As Celery: the return value on SUCCESS; the error (a ``TaskFailed``) on FAILURE,
        REVOKED or RETRY; the ``meta`` of ``update_state`` while it runs; else ``None``."""
        row = self._store.read(self.id)
        if row is None:
            return None
        if row.state in _ERROR_STATES:
            return self._error(row)
        return row.result

    @property
    def date_done(self) -> datetime | None:
        """When the task finished (an aware UTC datetime), or ``None`` while it has not."""
        row = self._store.read(self.id)
        return None if row is None or not row.ready else row.finished_at

    @property
    def args(self) -> list[Any] | None:
        """The positional arguments, when the row records them."""
        return getattr(self._store.read(self.id), "args", None)

    @property
    def kwargs(self) -> dict[str, Any] | None:
        """The keyword arguments, when the row records them."""
        return getattr(self._store.read(self.id), "kwargs", None)

    def forget(self) -> None:
        """Delete the task's row; the id then reads ``UNKNOWN``."""
        self._store.forget(self.id)

    @property
    def result(self) -> Any:
        """The return value once SUCCESS, else ``None``."""
        row = self._store.read(self.id)
        return row.result if row is not None and row.state == states.SUCCESS else None

    @property
    def traceback(self) -> str | None:
        """The formatted traceback of a failed task, else ``None``."""
        row = self._store.read(self.id)
        return None if row is None else row.traceback

    @property
    def row(self) -> ResultRow | None:
        """The whole results row, or ``None`` for an id no one published."""
        return self._store.read(self.id)

    def ready(self) -> bool:
        """Whether the task has finished (SUCCESS, FAILURE or REVOKED)."""
        return self.state in states.TERMINAL_STATES

    def successful(self) -> bool:
        """Whether the task finished with SUCCESS."""
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        """Whether the task finished with FAILURE."""
        return self.state == states.FAILURE

    def revoke(self, *, terminate: bool = False) -> bool:
        """Make sure a task that has not started never runs; it then reads ``REVOKED``.

        Args:
            terminate: also stop it if it is running: in the process pool its child process
                ends within about a second and is replaced; in the asyncio pool an ``async def``
                task is cancelled within about a second; the thread pool cannot stop it.

        Returns:
            ``True`` if it was revoked; ``False`` if it had already finished (or started, without
            ``terminate``).
        """
        reason = "terminated by a user" if terminate else "revoked before it started"
        return self._store.revoke(self.id, reason, terminate=terminate)

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """Wait for the task to finish and return its result.

        Args:
            timeout: seconds to wait at most; ``None`` waits as long as it takes.
            propagate: ``False`` returns the error (a ``TaskFailed``) of a failed or revoked
                task instead of raising it, as Celery does.

        Raises:
            TaskFailed: the task failed or was revoked; carries the remote type, message and traceback.
            TimeoutError: the task did not finish within ``timeout``.
            UnknownTaskError: no row for this id appeared within a short grace (1.5 s): no
                one published it. A ``TimeoutError`` too.
        """
        row = self._store.wait(self.id, timeout, UNKNOWN_GRACE)
        if row is None and (timeout is None or timeout > UNKNOWN_GRACE):
            raise UnknownTaskError(self.id, UNKNOWN_GRACE)
        if row is None or not row.ready:
            state = states.UNKNOWN if row is None else row.state
            raise errors.TimeoutError(f"task {self.id} did not finish within {timeout}s (state {state})")
        return self._outcome(row, propagate)

    async def aget(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """``get`` for async code: polls with ``asyncio.sleep``, so the event loop stays free."""
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        interval = ASYNC_FIRST_POLL
        while True:
            row = await asyncio.to_thread(self._store.read, self.id)
            if row is not None and row.ready:
                return self._outcome(row, propagate)
            if row is None and time.monotonic() - began > UNKNOWN_GRACE:
                raise UnknownTaskError(self.id, UNKNOWN_GRACE)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                state = states.UNKNOWN if row is None else row.state
                raise errors.TimeoutError(f"task {self.id} did not finish within {timeout}s (state {state})")
            await asyncio.sleep(interval if remaining is None else min(interval, remaining))
            interval = min(interval * 2, ASYNC_MAX_POLL)

    async def astate(self) -> str:
        """:attr:`state` for async code, read on a thread."""
        return await asyncio.to_thread(lambda: self.state)

    def _outcome(self, row: ResultRow, propagate: bool) -> Any:
        if row.state == states.SUCCESS:
            return row.result
        if propagate:
            raise self._error(row)
        return self._error(row)

    def _error(self, row: ResultRow) -> TaskFailed:
        return TaskFailed(
            self.id,
            row.error_type or row.state,
            row.error_message or f"the task ended {row.state}",
            row.traceback,
        )
