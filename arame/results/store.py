"""ResultStore: the results table on SQLAlchemy 2 — writes, reads and waits."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from arame import states
from arame.errors import MessageError, ResultStoreError
from arame.message import TaskMessage, decode_json
from arame.results.joins import publish_fired, record_with_joins
from arame.results.joins_table import joins
from arame.results.migrate import add_missing_columns, add_missing_indexes
from arame.results.table import metadata, results
from arame.sqlite import connect_sqlite
from arame.sqlschema import widen_mysql_text
from arame.states import Outcome, Started
from arame.transport.sql.engines import autocommit_engine, ping_when_idle
from arame.transport.urls import redact_url

logger = logging.getLogger(__name__)

# Result waits poll every FAST_POLL for the first FAST_POLL_FOR seconds (most tasks finish by
# then), then back off, doubling up to MAX_POLL_INTERVAL: prompt for quick tasks, cheap for long ones.
FAST_POLL, FAST_POLL_FOR, MAX_POLL_INTERVAL = 0.0005, 0.02, 0.05
# Plain comparisons, not IN (...): an expanding IN cannot be used in an executemany.
ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF"  # PostgreSQL: commit without waiting for the disk
_NOT_TERMINAL = sa.and_(*(results.c.state != state for state in sorted(states.TERMINAL_STATES)))
# Built once: a claim runs for every batch of tasks, and building a statement costs more than it.
_CLAIMABLE = (
    results.c.id.in_(sa.bindparam("ids", expanding=True)),
    _NOT_TERMINAL,
    results.c.attempts <= sa.bindparam("b_attempts"),
)
_CLAIM = results.update().values(
    state=states.STARTED,
    attempts=sa.bindparam("v_attempts"),
    worker=sa.bindparam("v_worker"),
    started_at=sa.bindparam("v_started_at"),
)
_READ = sa.select(results).where(results.c.id == sa.bindparam("id"))
_STATE_OF = sa.select(results.c.state).where(results.c.id == sa.bindparam("id"))
_CLAIM_RETURNING = _CLAIM.where(*_CLAIMABLE).returning(results.c.id)
_LOCK_CLAIMABLE = sa.select(results.c.id).where(*_CLAIMABLE).with_for_update()


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One row of the results table, with the result decoded from JSON."""

    id: str
    task_name: str
    queue: str
    state: str
    result: Any
    error_type: str | None
    error_message: str | None
    traceback: str | None
    attempts: int
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    message: TaskMessage | None = None  # None for rows written before the column, or unreadable
    trace_id: str | None = None  # the trace it was sent in, when tracing was on

    @property
    def ready(self) -> bool:
        """Whether the task has reached a state it will never leave."""
        return self.state in states.TERMINAL_STATES

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments it was published with (``()`` when the row has no message)."""
        return () if self.message is None else self.message.args

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments it was published with (``{}`` when the row has no message)."""
        return {} if self.message is None else dict(self.message.kwargs)


class ResultStore:
    """Reads and writes task rows in one SQL database.

    The table is created on first use. Safe to share between threads, and used again after a
    fork (the child opens its own connections).

    Args:
        url: an SQLAlchemy URL with its driver (``postgresql+psycopg://…``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.safe_url = redact_url(sa.make_url(url).render_as_string(hide_password=True))
        self._engine: sa.Engine | None = None
        self._quick_engine: sa.Engine | None = None  # PostgreSQL: autocommit, no wait for the disk
        self._pid = 0
        self._table_ready = False
        self._lock = threading.Lock()
        # Workflows: publishes the steps that fired in record(); the App sets it (see joins.py).
        self.publish_fired: Callable[[Sequence[TaskMessage]], None] | None = None

    # -- writes ----------------------------------------------------------------------------

    def add_pending(self, message: TaskMessage) -> None:
        """Record a just-published task as PENDING, unless its id already has a row."""
        if self.quick_engine is self.engine:
            self.add_pending_many([message])
            return
        with self.quick() as conn:  # one statement: one round trip, without BEGIN and COMMIT
            conn.execute(self.insert_ignore(results), _pending_row(message))

    def add_pending_many(self, messages: Sequence[TaskMessage]) -> None:
        """Record tasks as PENDING in one transaction, skipping ids that already have a row."""
        rows = [_pending_row(message) for message in messages]
        with self.transaction() as conn:
            if conn.dialect.name == "postgresql":
                # Not worth a disk flush of its own: should the database crash before its next
                # flush, a worker that claims the task writes the row again (see claim()).
                conn.exec_driver_sql(ASYNC_COMMIT)
            conn.execute(self.insert_ignore(results), rows)

    def forget_pending_many(self, task_ids: Sequence[str]) -> None:
        """Delete the rows among ``task_ids`` still PENDING (their messages never reached the broker)."""
        with self.transaction() as conn:
            for start in range(0, len(task_ids), 500):  # bounded IN lists
                chunk = list(task_ids[start : start + 500])
                conn.execute(
                    results.delete().where(results.c.id.in_(chunk), results.c.state == states.PENDING)
                )

    def revoke(self, task_id: str, reason: str = "revoked", *, terminate: bool = False) -> bool:
        """Mark a task REVOKED so no worker runs it; with ``terminate``, a running one too.

        Returns:
            Whether it was revoked (``False``: it finished, is unknown, or started without
            ``terminate``).
        """
        # Running means STARTED or a custom state of progress (update_state): any open state.
        revocable = _NOT_TERMINAL if terminate else results.c.state.in_([states.PENDING, states.RETRY])
        with self.transaction() as conn:
            revoked = conn.execute(
                results.update()
                .where(results.c.id == task_id, revocable)
                .values(
                    state=states.REVOKED,
                    error_type="TaskTerminated" if terminate else "TaskRevoked",
                    error_message=reason,
                    finished_at=_from_epoch(time.time()),
                )
            )
        return bool(revoked.rowcount)

    def update_state(self, task_id: str, state: str, meta_json: str | None) -> bool:
        """Set a running task's state of progress and its meta (JSON, kept in ``result``).

        A finished row is never changed: the outcome's write always wins. Not flushed to disk
        before returning on PostgreSQL: progress lost in a database crash is only stale progress.

        Returns:
            Whether a row was changed.
        """
        statement = (
            results.update()
            .where(results.c.id == task_id, _NOT_TERMINAL)
            .values(state=state, result=meta_json)
        )
        if self.quick_engine is self.engine:
            with self.transaction() as conn:
                return bool(conn.execute(statement).rowcount)
        with self.quick() as conn:
            return bool(conn.execute(statement).rowcount)

    def forget(self, task_id: str) -> bool:
        """Delete the row of ``task_id`` whatever its state; return whether there was one."""
        with self.transaction() as conn:
            return bool(conn.execute(results.delete().where(results.c.id == task_id)).rowcount)

    def forget_pending(self, task_id: str) -> None:
        """Delete a row still PENDING (its message never reached the broker)."""
        self.forget_pending_many([task_id])

    def claim(self, starts: Sequence[Started]) -> set[str]:
        """Mark tasks STARTED, in one transaction, and return the ids this worker may run.

        A task is claimed when its row is not terminal and records no later attempt; a revoke
        and a claim of the same row are ordered by the database, so exactly one of them wins.
        An id without a row (its message was published without one) gets a STARTED row.

        Raises:
            ResultStoreError: the transaction did not commit; nothing was claimed.
        """
        if not starts:
            return set()
        if self.quick_engine is not self.engine:
            # PostgreSQL: each statement is atomic by itself, so no transaction around them.
            # A claim lost in a database crash only makes the row read PENDING again; its
            # message is unacknowledged and comes back. A revoke committed after it cannot
            # survive the crash without it (the log is flushed in order).
            with self.quick() as conn:
                return self._claim_on(conn, starts)
        with self.transaction() as conn:
            return self._claim_on(conn, starts)

    def _claim_on(self, conn: sa.Connection, starts: Sequence[Started]) -> set[str]:
        claimed: set[str] = set()
        for attempts, group in _by_attempts(starts).items():
            claimed |= self._mark_started(conn, group, attempts)
        unclaimed = [s for s in starts if s.task_id not in claimed]
        if unclaimed:
            claimed |= self._start_missing(conn, unclaimed)
        return claimed

    def _mark_started(self, conn: sa.Connection, starts: list[Started], attempts: int) -> set[str]:
        ids = [s.task_id for s in starts]
        params = {
            "ids": ids,
            "b_attempts": attempts,
            "v_attempts": attempts,
            "v_worker": starts[0].worker,
            "v_started_at": _from_epoch(starts[0].at),
        }
        if conn.dialect.update_returning:
            return set(conn.execute(_CLAIM_RETURNING, params).scalars())
        # MySQL/MariaDB: no UPDATE ... RETURNING; lock the rows first, so no revoke slips between.
        found = set(conn.execute(_LOCK_CLAIMABLE, params).scalars())
        if found:
            conn.execute(_CLAIM.where(results.c.id.in_(found)), params)
        return found

    def _start_missing(self, conn: sa.Connection, starts: list[Started]) -> set[str]:
        ids = [s.task_id for s in starts]
        present = set(conn.execute(sa.select(results.c.id).where(results.c.id.in_(ids))).scalars())
        missing = [s for s in starts if s.task_id not in present]
        if missing:
            conn.execute(self.insert_ignore(results), [_started_row(s) for s in missing])
        return {s.task_id for s in missing}

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write outcomes in one transaction.

        A row in a terminal state is never changed, so a redelivered task never overwrites the
        first outcome; nor is a row changed by an outcome of an earlier attempt than the one it
        records. An outcome whose id has no row gets one. An ``own_row_only`` outcome (a refused
        message) updates only the unfinished row its own publish wrote, never another's.

        Raises:
            ResultStoreError: the transaction did not commit; nothing of it was written.
        """
        if not outcomes:
            return
        # Workflow hook (arame/results/joins.py): the steps waiting on these tasks advance in
        # this same transaction; the steps that fired are published once it has committed.
        fired: list[TaskMessage] = []
        with self.transaction() as conn:
            if any(outcome.joins for outcome in outcomes):
                fired = record_with_joins(conn, outcomes, self._record_on)
            else:
                self._record_on(conn, outcomes)
        if fired:
            publish_fired(self.publish_fired, fired)

    def _record_on(self, conn: sa.Connection, outcomes: Sequence[Outcome]) -> None:
        updates = [_outcome_params(outcome) for outcome in outcomes if not outcome.own_row_only]
        if len(updates) == len(outcomes):
            updated = conn.execute(_UPDATE_OUTCOME, updates)
            if updated.rowcount == len(outcomes):
                return  # the common case: every row was there and open
        else:
            if updates:
                conn.execute(_UPDATE_OUTCOME, updates)
            self._update_own_rows(conn, [outcome for outcome in outcomes if outcome.own_row_only])
        ids = [outcome.task_id for outcome in outcomes]
        present = set(conn.execute(sa.select(results.c.id).where(results.c.id.in_(ids))).scalars())
        missing = [outcome for outcome in outcomes if outcome.task_id not in present]
        if missing:
            conn.execute(self.insert_ignore(results), [_outcome_row(outcome) for outcome in missing])

    def _update_own_rows(self, conn: sa.Connection, outcomes: list[Outcome]) -> None:
        """Refused messages: update a row only where it is the one this message's publish wrote."""
        own = [outcome for outcome in outcomes if outcome.created is not None]
        if own:
            params = [_outcome_params(outcome) for outcome in own]
            for param, outcome in zip(params, own, strict=True):
                param["b_task_name"] = outcome.task_name
                param["b_created_at"] = _from_epoch(outcome.created or 0.0)
            conn.execute(_UPDATE_OWN_ROW, params)

    # -- reads -----------------------------------------------------------------------------

    def read(self, task_id: str) -> ResultRow | None:
        """Return the row of ``task_id``, or ``None`` if no one published it."""
        with self.connect() as conn:
            return _read_on(conn, task_id)

    def state_of(self, task_id: str) -> str | None:
        """The state of ``task_id`` alone (its message is not fetched), or ``None`` if it has no row."""
        with self.connect() as conn:
            state = conn.execute(_STATE_OF, {"id": task_id}).scalar()
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
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        interval = FAST_POLL
        while True:
            with self.connect() as conn:
                # The fast polls share one connection and read only the state; slower ones take
                # a connection each, so that a long wait holds none between polls.
                while True:
                    state = conn.execute(_STATE_OF, {"id": task_id}).scalar()
                    now = time.monotonic()
                    remaining = None if deadline is None else deadline - now
                    if state is None and now - began >= unknown_grace:
                        return None
                    if state in states.TERMINAL_STATES or (remaining is not None and remaining <= 0):
                        return _read_on(conn, task_id)
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

    def counts(self) -> dict[str, int]:
        """How many rows are in each state."""
        with self.connect() as conn:
            query = sa.select(results.c.state, sa.func.count()).group_by(results.c.state)
            return {state: count for state, count in conn.execute(query)}

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

    def close(self) -> None:
        """Close every pooled connection."""
        for engine in {self._engine, self._quick_engine} - {None}:
            assert engine is not None
            engine.dispose()
        self._engine = self._quick_engine = None

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection in a transaction, committed on exit; errors become ResultStoreError."""
        with self._reporting("could not write to"), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reads; errors become ResultStoreError."""
        with self._reporting("could not read from"), self.quick_engine.connect() as conn:
            yield conn

    @contextmanager
    def quick(self) -> Iterator[sa.Connection]:
        """A connection whose every statement commits by itself (PostgreSQL: without waiting
        for the disk); errors become ResultStoreError."""
        with self._reporting("could not write to"), self.quick_engine.connect() as conn:
            yield conn

    @contextmanager
    def _reporting(self, what: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(what, exc) from exc

    @property
    def engine(self) -> sa.Engine:
        """The engine, created (with the table) on first use and again in a forked child."""
        if self._engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    self._engine = self._create_engine()
                    self._quick_engine = self._create_quick_engine(self._engine)
                    self._pid = os.getpid()
        return self._engine

    @property
    def quick_engine(self) -> sa.Engine:
        """For single statements: on PostgreSQL an autocommit engine that skips BEGIN, COMMIT
        and the wait for the disk (one round trip instead of three or four); elsewhere ``engine``.

        Only for writes that the system repairs after a database crash (a PENDING row, a claim)
        and for reads. Outcomes always commit durably, through ``engine``.
        """
        self.engine  # noqa: B018 - creates both, in this process
        assert self._quick_engine is not None
        return self._quick_engine

    def _create_quick_engine(self, engine: sa.Engine) -> sa.Engine:
        if engine.dialect.name != "postgresql":
            return engine  # SQLite runs in-process; MySQL would pay a round trip to switch autocommit
        return autocommit_engine(self.url)

    def _create_engine(self) -> sa.Engine:
        url = sa.make_url(self.url)
        try:
            if url.get_backend_name() == "sqlite":
                engine = _sqlite_engine(url)
            elif url.get_backend_name() in {"mysql", "mariadb"}:
                # Reads see the newest commit, not a snapshot from the transaction's start.
                engine = ping_when_idle(sa.create_engine(url, isolation_level="READ COMMITTED"))
            else:
                engine = ping_when_idle(sa.create_engine(url))
            if not self._table_ready:
                _create_table(engine)
                self._table_ready = True
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise self._error("could not open", exc) from exc
        return engine

    def insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that skips rows whose primary key exists, in this database's dialect."""
        name = self.engine.dialect.name
        if name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if name == "sqlite":
            return sqlite_dialect.insert(table).on_conflict_do_nothing()
        return table.insert().prefix_with("IGNORE")

    def _error(self, what: str, exc: BaseException) -> ResultStoreError:
        text = str(getattr(exc, "orig", None) or exc).strip()
        cause = text.splitlines()[0] if text else type(exc).__name__  # drivers add hint lines
        # The data itself was refused: retrying the same write can only fail the same way.
        unstorable = isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError))
        return ResultStoreError(
            f"{what} the results database {self.safe_url}: {cause}", url=self.safe_url, unstorable=unstorable
        )


def _create_table(engine: sa.Engine, tries: int = 5) -> None:
    for attempt in range(tries):
        try:
            metadata.create_all(engine, checkfirst=True)
            break
        except sa.exc.SQLAlchemyError:
            # Another process created one of the tables between the check and the CREATE; the
            # next pass creates only what is still missing.
            if attempt == tries - 1:
                raise
    add_missing_columns(engine, results)
    add_missing_indexes(engine, results)
    widen_mysql_text(engine, results)
    add_missing_columns(engine, joins)  # workflows' table (arame/results/joins_table.py)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    # WAL: readers never block the writer, and the broker can share the file.
    return sa.create_engine(url, creator=functools.partial(connect_sqlite, url.database or ""))


_OUTCOME_COLUMNS = (
    "task_name",
    "queue",
    "state",
    "result",
    "error_type",
    "error_message",
    "traceback",
    "attempts",
    "worker",
    "started_at",
    "finished_at",
)
# One statement for a whole batch (an executemany); bound names differ from the columns'.
_UPDATE_OUTCOME = (
    results.update()
    .where(
        results.c.id == sa.bindparam("b_id"), _NOT_TERMINAL, results.c.attempts <= sa.bindparam("b_attempts")
    )
    .values({name: sa.bindparam(f"v_{name}") for name in _OUTCOME_COLUMNS})
)
# A refused message names its row by id, task name and creation time: another message that
# shares only the id (a forgery, a malformed copy) cannot match both and leaves the row alone.
_UPDATE_OWN_ROW = _UPDATE_OUTCOME.where(
    results.c.task_name == sa.bindparam("b_task_name"), results.c.created_at == sa.bindparam("b_created_at")
)


def _by_attempts(starts: Sequence[Started]) -> dict[int, list[Started]]:
    groups: dict[int, list[Started]] = {}
    for start in starts:
        groups.setdefault(start.attempts, []).append(start)
    return groups


def _pending_row(message: TaskMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "task_name": message.task,
        "queue": message.queue,
        "state": states.PENDING,
        "attempts": message.attempt,
        "created_at": _from_epoch(message.created),
        "message": message.to_body(),  # what a requeue, a retry or a reconcile publishes again
        "trace_id": message.trace_id,
    }


def _started_row(start: Started) -> dict[str, Any]:
    at = _from_epoch(start.at)
    return {
        "id": start.task_id,
        "task_name": start.task_name,
        "queue": start.queue,
        "state": states.STARTED,
        "attempts": start.attempts,
        "worker": start.worker,
        "created_at": at,
        "started_at": at,
    }


def _outcome_params(outcome: Outcome) -> dict[str, Any]:
    values = _outcome_values(outcome)
    params = {f"v_{name}": values[name] for name in _OUTCOME_COLUMNS}
    params["b_id"] = outcome.task_id
    params["b_attempts"] = outcome.attempts
    return params


def _outcome_row(outcome: Outcome) -> dict[str, Any]:
    values = _outcome_values(outcome)
    return {"id": outcome.task_id, "created_at": values["finished_at"] or _from_epoch(time.time()), **values}


def _outcome_values(outcome: Outcome) -> dict[str, Any]:
    return {
        "task_name": outcome.task_name,
        "queue": outcome.queue,
        "state": outcome.state,
        "result": outcome.result_json,
        "error_type": outcome.error_type,
        "error_message": outcome.error_message,
        "traceback": outcome.traceback,
        "attempts": outcome.attempts,
        "worker": outcome.worker,
        "started_at": None if outcome.started_at is None else _from_epoch(outcome.started_at),
        # A RETRY is not finished: the row keeps its error until the next attempt starts.
        "finished_at": None
        if outcome.state == states.RETRY
        else _from_epoch(outcome.finished_at or time.time()),
    }


def _read_on(conn: sa.Connection, task_id: str) -> ResultRow | None:
    found = conn.execute(_READ, {"id": task_id}).first()
    return None if found is None else to_row(found._mapping)


def to_row(mapping: Any) -> ResultRow:
    data = dict(mapping)
    raw = data.pop("result")
    data["message"] = _message_of(data.get("message"))
    for key in ("created_at", "started_at", "finished_at"):
        if data[key] is not None and data[key].tzinfo is None:
            data[key] = data[key].replace(tzinfo=UTC)  # SQLite and MySQL hand back naive UTC
    return ResultRow(result=None if raw is None else decode_json(raw), **data)


def _message_of(body: str | None) -> TaskMessage | None:
    if body is None:
        return None
    try:
        return TaskMessage.from_body(body)
    except MessageError:
        logger.warning("a results row holds a message that cannot be decoded; reading it as none")
        return None


def _from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
