"""Deduplication keys: at most one task per key while it is unfinished and for a window after publishing.

A key is one row of ``arame_dedup`` (its primary key is a hash of the key), so two processes
publishing with the same key at the same moment cannot both win: the database keeps one insert.
The winner's PENDING row is written in the same transaction as its key, so whoever sees the key
sees its holder's row too: a holder without a row is one whose task is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from arame import states
from arame.coordination.flow_tables import FlowTables, dedup, hashed
from arame.errors import ResultStoreError
from arame.results.results_table import results

MAX_TRIES = 100  # takeovers lost to other callers before giving up (each one means progress elsewhere)


class DedupStore(FlowTables):
    """Who holds each deduplication key.

    Args:
        store: the results store whose database holds the table (created on first use).
    """

    def reserve(
        self, key: str, task_id: str, seconds: float, now: float, write: Callable[[sa.Connection], None]
    ) -> str:
        """Hold ``key`` for ``task_id`` unless another task holds it; return the holder's id.

        The holder keeps the key while its task is unfinished (PENDING, STARTED, RETRY or a state
        of progress) and at least ``seconds`` after it took it; then the next caller takes it over.
        ``write`` writes the task's PENDING row; it runs in the transaction that takes the key.
        """
        self._create()
        hashed_key = hashed("dedup", key)
        for _ in range(MAX_TRIES):
            try:
                with self._store.transaction() as conn:
                    holder = self._take(conn, hashed_key, task_id, now + seconds, now)
                    if holder == task_id:
                        write(conn)
            except ResultStoreError as exc:
                # MySQL: two callers that both read the finished holder and then both update its
                # key deadlock; the database refuses one, which looks again.
                if "deadlock" not in str(exc.__cause__).lower():
                    raise
                continue
            if holder is not None:
                return holder
            # Another caller took it over (or gave it up) between the read and the update.
        raise ResultStoreError(f"could not take the deduplication key {key!r}: too much contention")

    def reserve_in(self, conn: Any, key: str, task_id: str, seconds: float, now: float) -> str:
        """``reserve`` in a caller's open transaction (``conn``, see ``arame.outbox``), where the
        caller writes the task's row: held once that transaction commits, freed by its rollback."""
        self._create()
        for _ in range(MAX_TRIES):
            holder = self._take(conn, hashed("dedup", key), task_id, now + seconds, now)
            if holder is not None:
                return holder
        raise ResultStoreError(f"could not take the deduplication key {key!r}: too much contention")

    def _take(self, conn: Any, hashed_key: str, task_id: str, until: float, now: float) -> str | None:
        """The key's holder once ``task_id`` tried to take it, or ``None``: changed meanwhile, look again."""
        # Not the INSERT's rowcount: PostgreSQL's driver reports -1 for it whether it wrote or not.
        row = {"key": hashed_key, "task_id": task_id, "until": until}
        conn.execute(self._store.insert_ignore(dedup), row)
        found = conn.execute(
            sa.select(dedup.c.task_id, dedup.c.until).where(dedup.c.key == hashed_key)
        ).first()
        if found is None:
            return None  # given up (its publish failed) since the INSERT met it: try again
        holder, held_until = found
        if holder == task_id or held_until > now or _unfinished(conn, holder):
            return str(holder)
        # Finished and past its window: taken over, unless another caller was first.
        taken = conn.execute(
            dedup.update()
            .where(dedup.c.key == hashed_key, dedup.c.task_id == holder)
            .values(task_id=task_id, until=until)
        ).rowcount
        return task_id if taken else None

    def release(self, key: str, task_id: str) -> None:
        """Give up ``key`` if ``task_id`` holds it (its message could not be published)."""
        with self._store.transaction() as conn:
            conn.execute(
                dedup.delete().where(dedup.c.key == hashed("dedup", key), dedup.c.task_id == task_id)
            )


def _unfinished(conn: Any, task_id: str) -> bool:
    state = conn.execute(sa.select(results.c.state).where(results.c.id == task_id)).scalar()
    return state is not None and state not in states.TERMINAL_STATES
