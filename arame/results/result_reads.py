"""The results table's reads and waits; ResultStore adds the writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from datetime import datetime

import sqlalchemy as sa

from arame import states
from arame.results.app_scope import of_queues
from arame.results.database import ResultDatabase
from arame.results.pg_statements import READ_ROW, ROW_COLUMNS
from arame.results.results_table import results
from arame.results.rows import ResultRow, read_on, row_from_json, to_row
from arame.results.statements import STATE_OF
from arame.subqueues import fair_parent

# Result waits poll every FAST_POLL for the first FAST_POLL_FOR seconds (most tasks finish by
# then), then back off, doubling up to MAX_POLL_INTERVAL: prompt for quick tasks, cheap for long ones.
FAST_POLL, FAST_POLL_FOR, MAX_POLL_INTERVAL = 0.0005, 0.02, 0.05
# Waits woken by notifications (PostgreSQL) read the row again on their own only now and then.
NOTIFIED_POLL, MAX_NOTIFIED_POLL = 0.05, 0.5


class ResultReads(ResultDatabase):
    """Reads, waits and pruning over one results database (the connections: ResultDatabase)."""

    # -- reads -----------------------------------------------------------------------------

    def read(self, task_id: str) -> ResultRow | None:
        """Return the row of ``task_id``, or ``None`` if no one published it."""
        direct = self.direct(durable=False)
        if direct is not None:  # PostgreSQL: a result wait reads the row after every notification
            found = direct.rows(READ_ROW, {"id": task_id}, reading=True)
            return to_row(dict(zip(ROW_COLUMNS, found[0], strict=True))) if found else None
        with self.connect() as conn:
            return read_on(conn, task_id)

    def state_of(self, task_id: str) -> str | None:
        """The state of ``task_id`` alone (its message is not fetched), or ``None`` if it has no row."""
        with self.connect() as conn:
            state = conn.execute(STATE_OF, {"id": task_id}).scalar()
            return None if state is None else str(state)

    def terminated(self, task_ids: list[str]) -> set[str]:
        """Which of ``task_ids`` read REVOKED (their workers must stop running them)."""
        with self.connect() as conn:
            found = conn.execute(
                sa.select(results.c.id).where(results.c.id.in_(task_ids), results.c.state == states.REVOKED)
            )
            return set(found.scalars())

    def wait(self, task_id: str, timeout: float | None, unknown_grace: float = 1.5) -> ResultRow | None:
        """Wait until ``task_id`` is in a terminal state.

        Args:
            task_id: the task's id.
            timeout: seconds to wait at most; ``None`` waits as long as it takes.
            unknown_grace: seconds to wait for a row that does not exist yet (another process
                may be committing it); after that an absent row ends the wait.

        Returns:
            The terminal row, or the latest one (``None`` if absent) when ``timeout`` or, for an
            absent row, ``unknown_grace`` ran out.
        """
        notices = self.notices
        event = None if notices is None else notices.watch(task_id)
        if notices is None or event is None:
            return self._poll(task_id, timeout, unknown_grace)
        try:
            return self._wait_notified(task_id, event, timeout, unknown_grace)
        finally:
            notices.unwatch(task_id, event)

    def _wait_notified(
        self, task_id: str, event: threading.Event, timeout: float | None, unknown_grace: float
    ) -> ResultRow | None:
        """Read the row again each time a commit names it (and now and then, should one be missed)."""
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        interval = NOTIFIED_POLL
        notices = self.notices
        assert notices is not None
        row = self.read(task_id)
        while True:
            now = time.monotonic()
            remaining = None if deadline is None else deadline - now
            if row is None and now - began >= unknown_grace:
                return None
            if (row is not None and row.ready) or (remaining is not None and remaining <= 0):
                return row
            # An id without its row yet is read again soon: no notification announces a PENDING row.
            pause = FAST_POLL_FOR if row is None else interval
            event.wait(pause if remaining is None else min(pause, remaining))
            event.clear()
            interval = min(interval * 2, MAX_NOTIFIED_POLL)
            # The row as committed, when the notification carried it: no read needed.
            carried = notices.carried(task_id)
            row = self.read(task_id) if carried is None else row_from_json(carried)

    def _poll(self, task_id: str, timeout: float | None, unknown_grace: float) -> ResultRow | None:
        """Poll the row (MySQL, SQLite, or no listener): often at first, then less and less."""
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        interval = FAST_POLL
        while True:
            with self.connect() as conn:
                # The fast polls share one connection and read only the state; slower ones take
                # a connection each, so that a long wait holds none between polls.
                while True:
                    state = conn.execute(STATE_OF, {"id": task_id}).scalar()
                    now = time.monotonic()
                    remaining = None if deadline is None else deadline - now
                    if state is None and now - began >= unknown_grace:
                        return None
                    if state in states.TERMINAL_STATES or (remaining is not None and remaining <= 0):
                        return read_on(conn, task_id)
                    time.sleep(interval if remaining is None else min(interval, remaining))
                    if time.monotonic() - began > FAST_POLL_FOR:
                        interval = min(interval * 2, MAX_POLL_INTERVAL)
                        break

    def prune(self, before: datetime, batch: int = 1000) -> int:
        """Delete finished rows (terminal, finished before ``before``) in batches; return how many.

        Batches keep each transaction short, so workers writing results never wait long.
        """
        deleted = 0
        while True:
            with self.transaction() as conn:
                ids = list(
                    conn.execute(
                        sa.select(results.c.id)
                        .where(results.c.state.in_(states.TERMINAL_STATES), results.c.finished_at < before)
                        .limit(batch)
                    ).scalars()
                )
                if ids:
                    conn.execute(results.delete().where(results.c.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < batch:
                return deleted

    def counts(self, queues: Collection[str] | None = None) -> dict[str, int]:
        """How many rows are in each state: of ``queues`` (and their fair sub-queues), or all."""
        query = sa.select(results.c.state, sa.func.count()).group_by(results.c.state)
        if queues is not None:
            query = query.where(of_queues(results.c.queue, queues))
        with self.connect() as conn:
            return {state: count for state, count in conn.execute(query)}

    def queue_names(self) -> set[str]:
        """Every queue a row names (fair sub-queues as their queue), whichever app wrote it."""
        with self.connect() as conn:
            found = conn.execute(sa.select(results.c.queue).distinct()).scalars()
            return {fair_parent(name) or name for name in found if name}

    def count_states(self, task_ids: Sequence[str]) -> dict[str, int]:
        """How many of ``task_ids`` are in each state (ids without a row are not counted)."""
        counts: dict[str, int] = {}
        with self.connect() as conn:
            for start in range(0, len(task_ids), 500):  # bounded IN lists
                chunk = list(task_ids[start : start + 500])
                query = (
                    sa.select(results.c.state, sa.func.count())
                    .where(results.c.id.in_(chunk))
                    .group_by(results.c.state)
                )
                for state, count in conn.execute(query):
                    counts[state] = counts.get(state, 0) + count
        return counts
