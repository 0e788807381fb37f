"""Reads for browsing the results table: a filtered task list paged by keyset, and a throughput.

The list pages newest first by ``(created_at, id)``: each page starts below the last row of the
one before, so a page costs the same at row 20 and at row 1,000,000 (no OFFSET), and it reads
only the short columns (never the message, result or traceback).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from arame import states
from arame.results.app_scope import of_queues
from arame.results.result_store import ResultStore
from arame.results.results_table import results

MAX_PAGE = 500
#: The throughput looks at rows created this long before the window: a task that waited longer
#: in its queue is left out of the chart (bounding the scan by the created_at index).
CHART_LOOKBACK = timedelta(days=1)

_SUMMARY = (
    results.c.id,
    results.c.task_name,
    results.c.queue,
    results.c.state,
    results.c.attempts,
    results.c.worker,
    results.c.created_at,
    results.c.started_at,
    results.c.finished_at,
    results.c.error_type,
)


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What to list: every field that is set must match."""

    state: str | None = None
    task_name: str | None = None
    queue: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    queues: frozenset[str] | None = None  # one app's queues (with their fair sub-queues); None: all


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the ``(created_at, id)`` of its last row."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        """As text for a URL: ``<ISO time in UTC, with Z>_<id>`` (a ``+`` would read as a space)."""
        return f"{self.created_at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Read ``encode()``'s text back.

        Raises:
            ValueError: the text is not a cursor.
        """
        moment, sep, task_id = text.partition("_")
        if not sep or not task_id:
            raise ValueError(f"not a page cursor: {text!r}")
        return cls(_aware(datetime.fromisoformat(moment)), task_id)


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of the list, and the cursor of the next page (``None`` on the last)."""

    rows: list[dict[str, object]]
    next: Cursor | None


def list_tasks(
    store: ResultStore, where: TaskFilter, after: Cursor | None = None, limit: int = 50
) -> TaskPage:
    """A page of tasks matching ``where``, newest first, starting after ``after``."""
    limit = max(1, min(limit, MAX_PAGE))
    query = sa.select(*_SUMMARY).where(*_conditions(store, where))
    if after is not None:
        at = _stored(store, after.created_at)
        # The first condition bounds the index scan (an OR alone would not, and a page deep in
        # the list would scan every row above it); the second drops the page's own tail.
        query = query.where(
            results.c.created_at <= at,
            sa.or_(results.c.created_at < at, results.c.id < after.id),
        )
    query = query.order_by(results.c.created_at.desc(), results.c.id.desc()).limit(limit + 1)
    with store.connect() as conn:
        found = [_summary(row._mapping) for row in conn.execute(query)]
    more = len(found) > limit
    rows = found[:limit]
    last = rows[-1] if more else None
    return TaskPage(rows, Cursor(last["created_at"], str(last["id"])) if last else None)  # type: ignore[arg-type]


def per_minute(
    store: ResultStore,
    minutes: int = 60,
    now: datetime | None = None,
    queues: Collection[str] | None = None,
) -> list[dict[str, object]]:
    """Tasks finished, and of them failed, in each of the last ``minutes`` minutes (oldest first):
    of ``queues`` (and their fair sub-queues), or of every queue."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = now - timedelta(minutes=minutes)
    failed = sa.case((results.c.state == states.FAILURE, 1), else_=0)
    query = sa.select(results.c.finished_at, failed).where(
        results.c.created_at >= _stored(store, since - CHART_LOOKBACK),
        results.c.finished_at >= _stored(store, since),
    )
    if queues is not None:
        query = query.where(of_queues(results.c.queue, queues))
    buckets = {since + timedelta(minutes=i): [0, 0] for i in range(minutes)}
    with store.connect() as conn:
        for finished_at, failure in conn.execute(query):
            minute = _aware(finished_at).replace(second=0, microsecond=0)
            if minute in buckets:
                buckets[minute][0] += 1
                buckets[minute][1] += int(failure)
    return [{"minute": m, "tasks": t, "failures": f} for m, (t, f) in buckets.items()]


#: The states a row can hold (an UNKNOWN id has none).
LISTED_STATES = sorted(states.ALL_STATES - {states.UNKNOWN})


def _conditions(store: ResultStore, where: TaskFilter) -> list[sa.ColumnElement[bool]]:
    found: list[sa.ColumnElement[bool]] = []
    if where.state:
        found.append(results.c.state == where.state)
    if where.task_name:
        found.append(results.c.task_name == where.task_name)
    if where.queue:
        found.append(results.c.queue == where.queue)
    if where.since:
        found.append(results.c.created_at >= _stored(store, where.since))
    if where.until:
        found.append(results.c.created_at < _stored(store, where.until))
    if where.queues is not None:
        found.append(of_queues(results.c.queue, where.queues))
    return found


def _summary(mapping: sa.RowMapping) -> dict[str, object]:
    row = dict(mapping)
    for key in ("created_at", "started_at", "finished_at"):
        if row[key] is not None:
            row[key] = _aware(row[key])
    return row


def _stored(store: ResultStore, moment: datetime) -> datetime:
    # SQLite and MySQL keep naive UTC: compare with naive UTC there, or rows are missed.
    if store.engine.dialect.name in {"sqlite", "mysql", "mariadb"}:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
