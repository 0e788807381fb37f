"""An atomic task's transaction: the task's own writes and its SUCCESS row commit together.

The worker opens it around the task (``ResultStore.task_transaction``), binds its connection for
``arame.connection()``, and writes the outcome in it before the commit. A redelivered message
whose row is already finished is never run (the claim refuses it), so the task's database
effects happen exactly once.

A framework that owns the connection (Django) gives the transaction instead: a context manager
that opens it on the results database and yields its DB-API connection and a function that
marks it for rollback (see ``TaskTransactionSource``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from arame import atomic
from arame.errors import ResultStoreError
from arame.extensions import record_with
from arame.message import TaskMessage
from arame.results.after_commit import publish_after_commit
from arame.results.caller_connections import dbapi_execute
from arame.results.outbox_rows import Execute
from arame.results.pg_outcomes import NOTIFY_IDS
from arame.results.rows import outcome_params
from arame.results.statements import UPDATE_OUTCOME
from arame.states import Outcome

if TYPE_CHECKING:
    from arame.results.database import ResultDatabase
    from arame.results.result_store import ResultStore

logger = logging.getLogger(__name__)

#: Opens a framework's transaction: yields (DB-API connection, mark it for rollback).
TaskTransactionSource = Callable[[], AbstractContextManager[tuple[Any, Callable[[], None]]]]


class TaskTransaction:
    """The open transaction of one atomic task; ``record()`` its outcome before the commit.

    Args:
        store: the results database.
        execute: runs a statement in the transaction.
        conn: the transaction's SQLAlchemy connection (``None`` on a framework's own).
    """

    def __init__(
        self, store: ResultStore, execute: Execute, conn: sa.Connection | None = None, dbapi: Any = None
    ) -> None:
        self._store = store
        self._execute = execute
        self._conn = conn
        self._dbapi = dbapi if conn is None else conn.connection.dbapi_connection
        self.recorded = False
        self.fired: list[TaskMessage] = []

    def record(self, outcome: Outcome) -> bool:
        """Write ``outcome`` in this transaction; whether its row took it (``False``: the row was
        finished already, and the transaction must roll back)."""
        updated = 0

        def write() -> None:
            nonlocal updated
            updated = self._execute(UPDATE_OUTCOME, [outcome_params(outcome)])

        try:
            if self._conn is not None:  # the extensions act here too (a chord member's join advances)
                recording = self._store.extensions.recording([outcome])
                self.fired = record_with(recording, self._conn, [outcome], write)
            else:
                write()
            if updated and self._store.notices is not None:
                self._execute(NOTIFY_IDS, [{"ids": [outcome.task_id]}])
        except Exception as exc:
            raise _refused(self._store, exc) from exc
        self.recorded = bool(updated)
        return self.recorded

    def abandon(self) -> None:
        """Roll back from another thread (a hard time limit), where the task holds SQLite's one
        write lock: the failure is recorded on another connection, which would wait for it."""
        if self._dbapi is None or self._store.engine.dialect.name != "sqlite":
            return  # elsewhere the task's locks never cover its own row; the process's end undoes it
        try:
            self._dbapi.interrupt()  # stops a statement running now, which would hold the rollback
            self._dbapi.rollback()
        except Exception as exc:  # noqa: BLE001 - the process ends next, which undoes it all the same
            logger.warning("could not roll back the transaction of a task past its time limit: %s", exc)


def in_task_transaction(store: ResultDatabase, statement: Any) -> int | None:
    """Inside an atomic task on SQLite, run ``statement`` in the task's own transaction and
    return the rows it changed; elsewhere ``None`` (run it as usual).

    On SQLite the task holds the database's one write lock until it ends: a write on another
    connection (``update_state``) would wait for it until it timed out.
    """
    conn = atomic.bound()
    if conn is None or store.engine.dialect.name != "sqlite":
        return None
    if isinstance(conn, sa.Connection):
        return int(conn.execute(statement).rowcount)
    return dbapi_execute(conn, store.engine.dialect)(statement, [{}])  # Django's connection


def _refused(store: ResultStore, exc: Exception) -> ResultStoreError:
    """The error of a write in the task's transaction: ``unstorable`` unless the database or the
    connection failed, for the task itself broke the transaction (PostgreSQL aborts it at an
    error the task caught) and running it again would break it the same way."""
    transient = getattr(exc, "connection_invalidated", False) or any(
        kind.__name__ == "OperationalError" for kind in type(exc).__mro__
    )  # SQLAlchemy's and every DB-API driver's name for "down, lost, deadlocked"
    text = str(getattr(exc, "orig", None) or exc).strip()
    cause = text.splitlines()[0] if text else type(exc).__name__
    return ResultStoreError(
        f"the task's transaction could not record its outcome: {cause}",
        url=store.safe_url,
        unstorable=not transient,
    )


@contextmanager
def task_transaction(
    store: ResultStore, source: TaskTransactionSource | None = None
) -> Iterator[TaskTransaction]:
    """Run the block in a transaction bound for ``arame.connection()``; commit it only if the
    block recorded an outcome, else roll it back (the task's writes are undone).

    Raises:
        ResultStoreError: the transaction could not begin or commit; nothing of it stays.
    """
    if source is not None:
        with _framework_transaction(store, source) as scope:
            yield scope
    else:
        with store.connect_for_writes() as conn:
            transaction = conn.begin()
            scope = TaskTransaction(
                store, lambda statement, rows: int(conn.execute(statement, rows).rowcount), conn
            )
            token = atomic.bind(conn)
            try:
                yield scope
            except BaseException:
                transaction.rollback()
                raise
            finally:
                atomic.unbind(token)
            if scope.recorded:
                transaction.commit()
            else:
                transaction.rollback()
    if scope.fired:
        publish_after_commit(store.publish_fired, scope.fired)


@contextmanager
def _framework_transaction(store: ResultStore, source: TaskTransactionSource) -> Iterator[TaskTransaction]:
    opened = source()
    try:
        dbapi_connection, set_rollback = opened.__enter__()
    except Exception as exc:
        raise ResultStoreError(f"could not begin the task's transaction: {exc}", url=store.safe_url) from exc
    scope = TaskTransaction(
        store, dbapi_execute(dbapi_connection, store.engine.dialect), dbapi=dbapi_connection
    )
    token = atomic.bind(dbapi_connection)
    try:
        yield scope
    except BaseException as exc:
        atomic.unbind(token)
        if not opened.__exit__(type(exc), exc, exc.__traceback__):
            raise
        return
    atomic.unbind(token)
    if not scope.recorded:
        set_rollback()
    try:
        opened.__exit__(None, None, None)
    except Exception as exc:  # the commit failed: nothing of the run stays
        raise ResultStoreError(f"could not commit the task's transaction: {exc}", url=store.safe_url) from exc
