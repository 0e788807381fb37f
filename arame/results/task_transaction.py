"""An atomic task's transaction: the task's own writes and its SUCCESS row commit together.

The worker opens it around the task (``ResultStore.task_transaction``), binds its connection for
``arame.connection()``, and writes the outcome in it before the commit. A redelivered message
whose row is already finished is never run (the claim refuses it), so the task's database
effects happen exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa

from arame import atomic
from arame.message import TaskMessage
from arame.results.joins import publish_fired, record_with_joins
from arame.results.pg_outcomes import NOTIFY_IDS
from arame.results.rows import outcome_params
from arame.results.statements import UPDATE_OUTCOME
from arame.states import Outcome

if TYPE_CHECKING:
    from arame.results.store import ResultStore


class TaskTransaction:
    """The open transaction of one atomic task; ``record()`` its outcome before the commit."""

    def __init__(self, store: ResultStore, conn: sa.Connection) -> None:
        self._store = store
        self._conn = conn
        self.recorded = False
        self.fired: list[TaskMessage] = []

    def record(self, outcome: Outcome) -> bool:
        """Write ``outcome`` in this transaction; whether its row took it (``False``: the row was
        finished already, and the transaction must roll back)."""
        updated = 0

        def write(conn: sa.Connection, outcomes: object) -> None:
            nonlocal updated
            updated = conn.execute(UPDATE_OUTCOME, [outcome_params(outcome)]).rowcount

        if outcome.joins:  # a workflow member completes its join in the same transaction
            self.fired = record_with_joins(self._conn, [outcome], write)
        else:
            write(self._conn, [outcome])
        if updated and self._store.notices is not None:
            self._conn.execute(NOTIFY_IDS, {"ids": [outcome.task_id]})
        self.recorded = bool(updated)
        return self.recorded


@contextmanager
def task_transaction(store: ResultStore) -> Iterator[TaskTransaction]:
    """Run the block in a transaction bound for ``arame.connection()``; commit it only if the
    block recorded an outcome, else roll it back (the task's writes are undone).

    Raises:
        ResultStoreError: the transaction could not begin or commit; nothing of it stays.
    """
    with store.connect_for_writes() as conn:
        transaction = conn.begin()
        scope = TaskTransaction(store, conn)
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
        publish_fired(store.publish_fired, scope.fired)
