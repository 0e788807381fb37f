"""Rows that run again: put back to PENDING (requeue, retry), or found lost (reconcile)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa

from arame import states
from arame.message import TaskMessage
from arame.results.result_store import ResultStore
from arame.results.results_table import results
from arame.results.rows import ResultRow, to_row

#: States a retry may reopen: finished without success.
RETRYABLE = (states.FAILURE, states.REVOKED)


def reopen(store: ResultStore, task_id: str, from_states: Collection[str] = RETRYABLE) -> bool:
    """Set the row of ``task_id`` back to PENDING, only if it is in one of ``from_states``.

    One guarded UPDATE: of two callers (or a caller and a worker), exactly one wins. The attempt
    count stays, so the next attempt continues it; the verdict of the last one is cleared. What
    the extensions write with a PENDING row (``in_row_transaction``: a fair sub-queue registered
    again) is written in the same transaction, for a message naming the row's task and queue.

    Returns:
        Whether the row was reopened.

    Raises:
        ResultStoreError: the database refused the write.
    """
    with store.connect() as conn:
        found = conn.execute(
            sa.select(results.c.task_name, results.c.queue).where(results.c.id == task_id)
        ).first()
    if found is None:
        return False
    # Built before the transaction (an extension may create its table first).
    with_row = store.extensions.in_row_transaction([TaskMessage(task_id, found.task_name, queue=found.queue)])
    with store.transaction() as conn:
        reopened = conn.execute(
            results.update()
            .where(results.c.id == task_id, results.c.state.in_(list(from_states)))
            .values(
                state=states.PENDING,
                result=None,
                error_type=None,
                error_message=None,
                traceback=None,
                finished_at=None,
            )
        )
        if reopened.rowcount and with_row is not None:
            with_row(conn)
    return bool(reopened.rowcount)


def pending_before(
    store: ResultStore, cutoff: datetime, queues: Collection[str], limit: int = 10_000
) -> list[ResultRow]:
    """PENDING rows of ``queues`` created before ``cutoff`` that carry their message, oldest first.

    Raises:
        ResultStoreError: the database does not answer.
    """
    query = (
        sa.select(results)
        .where(
            results.c.state == states.PENDING,
            results.c.created_at < cutoff,
            results.c.queue.in_(list(queues)),
            results.c.message.is_not(None),
        )
        .order_by(results.c.created_at)
        .limit(limit)
    )
    with store.connect() as conn:
        return [to_row(found._mapping) for found in conn.execute(query)]


def count_pending_since(store: ResultStore, since: datetime, queues: Collection[str]) -> int:
    """How many PENDING rows of ``queues`` that carry their message were created at or after ``since``."""
    query = sa.select(sa.func.count()).where(
        results.c.state == states.PENDING,
        results.c.created_at >= since,
        results.c.queue.in_(list(queues)),
        results.c.message.is_not(None),
    )
    with store.connect() as conn:
        return int(conn.execute(query).scalar_one())


def still_pending(store: ResultStore, task_ids: Collection[str]) -> set[str]:
    """Which of ``task_ids`` read PENDING now.

    Raises:
        ResultStoreError: the database does not answer.
    """
    ids = list(task_ids)
    found: set[str] = set()
    with store.connect() as conn:
        for start in range(0, len(ids), 500):  # bounded IN lists
            chunk = ids[start : start + 500]
            query = sa.select(results.c.id).where(results.c.id.in_(chunk), results.c.state == states.PENDING)
            found |= set(conn.execute(query).scalars())
    return found
