"""The outbox's rows: written in a caller's transaction, deleted once their messages are published.

A task enqueued inside a caller's transaction is its ``PENDING`` row (which carries the message)
plus an ``arame_outbox`` row, both written on the caller's connection. After the commit the
caller publishes and deletes the outbox row; should it die or the broker be down, a worker's
relay takes the row once its lease has run out and publishes it from the results row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from arame import states
from arame.errors import MessageError
from arame.message import TaskMessage, new_copy_id
from arame.results.outbox_table import outbox
from arame.results.pg_statements import INSERT_PENDING_AND_OUTBOX
from arame.results.results_table import results
from arame.results.rows import from_epoch, pending_row

if TYPE_CHECKING:
    from arame.results.result_store import ResultStore

logger = logging.getLogger(__name__)

#: How a write reaches the caller's transaction: ``execute(statement, rows)`` -> rows changed.
Execute = Callable[[Any, list[dict[str, Any]]], int]


class OutboxRows:
    """Writes, takes and deletes outbox rows in one results database.

    Args:
        store: the result store whose database holds both tables.
    """

    def __init__(self, store: ResultStore) -> None:
        self._store = store

    def write(
        self, execute: Execute, messages: Sequence[TaskMessage], bodies: Sequence[str], lease: float
    ) -> None:
        """Write the PENDING rows and the outbox rows of ``messages`` through ``execute``.

        Args:
            execute: runs a statement on the caller's connection, inside its transaction.
            messages: the tasks.
            bodies: their ``to_body()``, in order.
            lease: seconds during which only the caller publishes them.
        """
        now = time.time()
        until = from_epoch(now + lease)
        rows = [pending_row(message, body) for message, body in zip(messages, bodies, strict=True)]
        execute(self._store.insert_ignore(results), rows)
        marks = [
            {"id": m.id, "queue": m.queue, "created_at": from_epoch(now), "lease_until": until}
            for m in messages
        ]
        execute(self._store.insert_ignore(outbox), marks)  # an id enqueued twice is one task

    def write_own(self, messages: Sequence[TaskMessage], bodies: Sequence[str], lease: float) -> None:
        """``write`` in a transaction of the store's own, committed before returning.

        PostgreSQL, one task: one statement, not waiting for the disk, as a PENDING row is written
        (arame.background_publishing says what that keeps).
        """
        direct = self._store.direct(durable=False)
        if direct is not None and len(messages) == 1:
            row = pending_row(messages[0], bodies[0])
            direct.rows(INSERT_PENDING_AND_OUTBOX, {**row, "lease_until": from_epoch(time.time() + lease)})
            return
        with self._store.transaction() as conn:
            self.write(
                lambda statement, rows: conn.execute(statement, rows).rowcount, messages, bodies, lease
            )

    def still_waiting(self, task_ids: Sequence[str]) -> list[str]:
        """Which of ``task_ids`` have an outbox row (a rolled-back savepoint leaves none)."""
        with self._store.connect() as conn:
            return list(conn.execute(sa.select(outbox.c.id).where(outbox.c.id.in_(list(task_ids)))).scalars())

    def published(self, task_ids: Sequence[str]) -> None:
        """Delete the outbox rows of tasks now in the broker.

        Not flushed to disk before returning (PostgreSQL): should the database lose the delete in a
        crash, a relay publishes the task again, as a copy of its own that the claim refuses.
        """
        with self._store.quick() as conn:
            conn.execute(outbox.delete().where(outbox.c.id.in_(list(task_ids))))
            if conn.in_transaction():
                conn.commit()

    def release(self, task_ids: Sequence[str]) -> None:
        """Let any relay take these rows again at once (their publish failed)."""
        with self._store.transaction() as conn:
            conn.execute(
                outbox.update().where(outbox.c.id.in_(list(task_ids))).values(lease_until=from_epoch(0))
            )

    def take_due(self, lease: float, queues: Sequence[str], limit: int = 100) -> list[TaskMessage]:
        """Take the rows of ``queues`` whose lease ran out, for ``lease`` seconds; return their messages.

        Only ``queues``: other apps may share the results database and publish to other brokers.

        Each row is taken by moving its lease forward only where it has still run out, so two
        relays never take the same row. Rows whose task is no longer PENDING (it ran, or was
        revoked or forgotten) are deleted instead: their message reached a worker already.
        """
        now = time.time()
        with self._store.transaction() as conn:
            due = list(
                conn.execute(
                    sa.select(outbox.c.id)
                    .where(outbox.c.lease_until < from_epoch(now), outbox.c.queue.in_(list(queues)))
                    .order_by(outbox.c.created_at)
                    .limit(limit)
                ).scalars()
            )
            taken = [
                task_id
                for task_id in due
                if conn.execute(
                    outbox.update()
                    .where(outbox.c.id == task_id, outbox.c.lease_until < from_epoch(now))
                    .values(lease_until=from_epoch(now + lease))
                ).rowcount
            ]
            if not taken:
                return []
            found = conn.execute(
                sa.select(results.c.id, results.c.state, results.c.message).where(results.c.id.in_(taken))
            ).all()
        messages, done = _publishable(taken, found)
        if done:
            self.published(done)
        return messages

    def waiting(self, queues: Sequence[str] | None = None) -> dict[str, int]:
        """Per queue, how many committed tasks wait to be published (among ``queues`` when given)."""
        query = sa.select(outbox.c.queue, sa.func.count()).group_by(outbox.c.queue)
        if queues is not None:
            query = query.where(outbox.c.queue.in_(list(queues)))
        with self._store.connect() as conn:
            return {queue: int(count) for queue, count in conn.execute(query)}


def _publishable(taken: list[str], found: Sequence[Any]) -> tuple[list[TaskMessage], list[str]]:
    """The messages of taken rows still PENDING, and the ids whose outbox rows only need deleting."""
    by_id = {row.id: row for row in found}
    messages: list[TaskMessage] = []
    done: list[str] = []
    for task_id in taken:
        row = by_id.get(task_id)
        if row is None or row.state != states.PENDING or not row.message:
            done.append(task_id)
            continue
        try:
            # A copy of its own: should the committing process have published it after all, the
            # claim lets only one of the two run.
            messages.append(replace(TaskMessage.from_body(row.message), copy=new_copy_id()))
        except MessageError as exc:
            logger.error("task %s cannot be published from its row: %s", task_id, exc)
            done.append(task_id)
    return messages, done


__all__ = ["Execute", "OutboxRows"]
