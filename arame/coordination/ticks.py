"""The tick ledger: one row per periodic task and tick, so a tick is published once."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from arame.errors import ResultStoreError
from arame.results.result_store import ResultStore
from arame.results.results_table import ticks


class TickLedger:
    """Claims ticks in the results database; the claim that inserts the row wins.

    Two schedulers running at once both try to claim each tick; the primary key lets exactly one
    of them insert it, and only that one publishes.
    """

    def __init__(self, store: ResultStore) -> None:
        self._store = store

    def claim(self, task_name: str, tick: datetime) -> bool:
        """Whether this caller won ``tick`` of ``task_name`` (and must publish it)."""
        # A plain INSERT: its duplicate-key error is the one unambiguous "lost" signal on every
        # database (psycopg reports no rowcount for an ignoring insert).
        try:
            with self._store.transaction() as conn:
                conn.execute(ticks.insert(), {"task_name": task_name, "tick_at": _key(tick)})
        except ResultStoreError as exc:
            if isinstance(exc.__cause__, sa.exc.IntegrityError):
                return False
            raise
        return True

    def release(self, task_name: str, tick: datetime) -> None:
        """Give a claimed tick up (its publish failed), so it can be claimed again."""
        with self._store.transaction() as conn:
            conn.execute(ticks.delete().where(ticks.c.task_name == task_name, ticks.c.tick_at == _key(tick)))

    def last_tick(self, task_name: str) -> datetime | None:
        """The latest tick claimed for ``task_name`` by any scheduler, if any."""
        with self._store.connect() as conn:
            latest = conn.execute(
                sa.select(sa.func.max(ticks.c.tick_at)).where(ticks.c.task_name == task_name)
            ).scalar()
        return None if latest is None else datetime.fromisoformat(latest)

    def prune(self, before: datetime) -> int:
        """Delete ticks older than ``before``; return how many."""
        with self._store.transaction() as conn:
            return int(conn.execute(ticks.delete().where(ticks.c.tick_at < _key(before))).rowcount)


def _key(tick: datetime) -> str:
    # Normalised to UTC so the strings sort in time order.
    return tick.astimezone(UTC).isoformat(timespec="seconds")
