"""Deduplication keys: at most one task per key while it is unfinished and for a window after publishing.

A key is one row of ``arame_dedup`` (its primary key is a hash of the key), so two processes
publishing with the same key at the same moment cannot both win: the database keeps one insert.
"""

from __future__ import annotations

import sqlalchemy as sa

from arame import states
from arame.results.limit_tables import FlowTables, dedup, hashed
from arame.results.table import results


class DedupStore(FlowTables):
    """Who holds each deduplication key.

    Args:
        store: the results store whose database holds the table (created on first use).
    """

    def reserve(self, key: str, task_id: str, seconds: float, now: float) -> str:
        """Hold ``key`` for ``task_id`` unless another task holds it; return the holder's id.

        The holder keeps the key while its task is unfinished (PENDING, STARTED, RETRY or a state
        of progress) and at least ``seconds`` after it took it; then the next caller takes it over.
        """
        self._create()
        hashed_key = hashed("dedup", key)
        while True:
            with self._store.transaction() as conn:
                conn.execute(
                    self._store.insert_ignore(dedup),
                    {"key": hashed_key, "task_id": task_id, "until": now + seconds},
                )
                holder, until = conn.execute(
                    sa.select(dedup.c.task_id, dedup.c.until).where(dedup.c.key == hashed_key)
                ).one()
                if holder == task_id or until > now or _unfinished(conn, holder):
                    return str(holder)
                taken = conn.execute(
                    dedup.update()
                    .where(dedup.c.key == hashed_key, dedup.c.task_id == holder)
                    .values(task_id=task_id, until=now + seconds)
                )
                if taken.rowcount:
                    return task_id
            # Another process took it over between the read and the update: read again.

    def release(self, key: str, task_id: str) -> None:
        """Give up ``key`` if ``task_id`` holds it (its message could not be published)."""
        with self._store.transaction() as conn:
            conn.execute(
                dedup.delete().where(dedup.c.key == hashed("dedup", key), dedup.c.task_id == task_id)
            )


def _unfinished(conn: sa.Connection, task_id: str) -> bool:
    state = conn.execute(sa.select(results.c.state).where(results.c.id == task_id)).scalar()
    return state is not None and state not in states.TERMINAL_STATES
