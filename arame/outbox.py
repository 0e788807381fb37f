"""The outbox: tasks enqueued inside the caller's database transaction.

Inside ``with app.transaction(conn):`` (or Django's ``transaction.atomic()`` when the results
are in Django's database), a publish writes the task's PENDING row and an outbox row on the
caller's connection, and publishes once that transaction commits. A rollback leaves neither
row and publishes nothing. A commit whose publish does not happen (the process died, the broker
was down) is published by a worker's relay (``arame.relay``) from the row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from arame.coordination.fair_queues import FairRegistry
from arame.errors import ArameError
from arame.message import TaskMessage
from arame.results.caller_connections import CallerConnection, OnCommit, attach
from arame.results.outbox_rows import Execute, OutboxRows

if TYPE_CHECKING:
    from arame.app import App

logger = logging.getLogger(__name__)

#: Seconds after its commit during which only the committing process publishes a task; a
#: relay takes it after that (so a task whose publisher died is published within seconds).
PUBLISH_LEASE = 2.0

#: The caller transaction of the code running now (``app.transaction()``), per thread and task.
_current: ContextVar[CallerTransaction | None] = ContextVar("arame_caller_transaction", default=None)

#: What an integration gives for the caller's open transaction: (DB-API connection, on_commit).
TransactionSource = Callable[[], "tuple[Any, OnCommit] | None"]


class CallerTransaction:
    """The tasks one caller's transaction enqueues: written in it, published after its commit.

    Args:
        app: the app that publishes them.
        connection: the caller's connection, adapted (see ``caller_connections.attach``).
    """

    def __init__(self, app: App, connection: CallerConnection) -> None:
        self.app = app
        self._connection = connection
        self._rows = OutboxRows(app.results)
        self._waiting: list[tuple[TaskMessage, str]] = []

    def takes(self, messages: Sequence[TaskMessage]) -> bool:
        """Whether these go through the outbox (see ``outbox_takes``); else they are published
        at once."""
        return outbox_takes(self.app, messages)

    @property
    def sql(self) -> Any:
        """Runs a statement in the caller's transaction and reads its rows (``.execute()``)."""
        return self._connection.sql

    def add(self, messages: Sequence[TaskMessage], bodies: Sequence[str]) -> None:
        """Write the rows of ``messages`` in the caller's transaction; publish them after its commit.

        Raises:
            PublishError: one of them can never be published (too large): nothing was written.
        """
        for message, body in zip(messages, bodies, strict=True):
            self.app.producer.check(message, body)  # refused now, as outside a transaction
        self._rows.write(self._connection.execute, messages, bodies, PUBLISH_LEASE)
        first = not self._waiting
        waiting = {message.id for message, _ in self._waiting}
        self._waiting.extend(pair for pair in zip(messages, bodies, strict=True) if pair[0].id not in waiting)
        if first:  # an autocommit connection calls it at once: the rows are committed already
            self._connection.on_commit(self._publish)

    def add_plan(self, roots: Sequence[TaskMessage], write_waits: Callable[[Execute], None]) -> None:
        """Write a workflow in the caller's transaction: its waiting steps and joins (``write_waits``
        writes them through the caller's ``execute``), and its first tasks (``roots``), published
        after the commit."""
        write_waits(self._connection.execute)
        if roots:
            self.add(roots, [message.to_body() for message in roots])

    def _publish(self) -> None:
        waiting, self._waiting = self._waiting, []
        try:
            if not self._connection.filters_rollbacks:
                # A savepoint rolled back after the write took its rows with it.
                kept = set(self._rows.still_waiting([message.id for message, _ in waiting]))
                waiting = [(message, body) for message, body in waiting if message.id in kept]
        except ArameError as exc:
            logger.warning(
                "could not read which committed tasks to publish (%s); a worker publishes them", exc
            )
            return
        publish_committed(self.app, self._rows, waiting)


def outbox_takes(app: App, messages: Sequence[TaskMessage]) -> bool:
    """Whether ``messages`` may be written as outbox rows: not when an extension writes with their
    rows (a fair sub-queue's registration), which needs a transaction of the store's own."""
    return app.extensions.in_row_transaction(messages) is None


def publish_committed(app: App, rows: OutboxRows, waiting: Sequence[tuple[TaskMessage, str]]) -> None:
    """Publish tasks whose rows and outbox rows are committed, then delete their outbox rows;
    when that fails, leave them to a worker's relay."""
    if not waiting:
        return
    messages = [message for message, _ in waiting]
    try:
        app.producer.publish_many(messages, [body for _, body in waiting])
        rows.published([message.id for message in messages])
    except ArameError as exc:
        # The rows are committed: the tasks exist. A worker's relay publishes them.
        logger.warning(
            "%d committed task(s) not published yet (%s); a worker publishes them", len(waiting), exc
        )


@contextmanager
def caller_transaction(app: App, conn: Any, on_commit: OnCommit | None = None) -> Iterator[CallerTransaction]:
    """Enqueue the block's tasks in ``conn``'s transaction (see ``App.transaction``).

    Raises:
        ConfigurationError: ``conn`` is not a connection on the results database.
    """
    caller = CallerTransaction(app, attach(conn, app.results.engine, on_commit))
    # The flow tables (dedup keys), once: before SQLite's write lock is the caller's.
    FairRegistry.of(app.results).prepare()
    token = _current.set(caller)
    try:
        yield caller
    finally:
        _current.reset(token)


def current(app: App) -> CallerTransaction | None:
    """The caller transaction ``app`` publishes into now, if any: a ``with app.transaction()``
    block, or the integration's open transaction (Django's ``atomic()``)."""
    caller = _current.get()
    if caller is not None and caller.app is app:
        return caller
    if app.transaction_source is None:
        return None
    found = app.transaction_source()
    if found is None:
        return None
    dbapi_connection, on_commit = found
    return CallerTransaction(app, attach(dbapi_connection, app.results.engine, on_commit))
