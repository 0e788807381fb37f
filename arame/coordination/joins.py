"""Workflow joins: each step that waits on other tasks advances in the outcome's own transaction.

The workflow extension (``arame.canvas.extension``) calls :func:`record_with_joins` for a batch of
outcomes whose messages name waiting steps (``TaskMessage.joins``). In one transaction it locks
those tasks' rows, writes the outcomes, and for each task that this transaction finished (a
redelivered copy finishes nothing) counts it on the ``arame_joins`` rows waiting on it. A join
whose members all succeeded fires: its ``fired`` flag and its step's PENDING row, carrying the
step's message, are written right there, so a crash after the commit loses nothing (``arame
reconcile`` republishes the row's message); the message is returned for publishing after the
commit. A member that failed marks the join failed and the steps downstream FAILURE, naming it, so
nothing waits forever. A message the worker refused counts as such a failure, on the joins its own
row names (see join_refusals.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from arame import states
from arame.canvas.plan import ALL, ERROR, ONE
from arame.coordination.join_refusals import refusals_finishing
from arame.coordination.joins_table import joins
from arame.json_values import decode_json, encode_json
from arame.message import TaskMessage
from arame.results.results_table import results
from arame.states import Outcome


@dataclass(frozen=True, slots=True)
class Join:
    """One ``arame_joins`` row."""

    id: str
    mode: str
    immutable: bool
    members: tuple[str, ...]
    expected: int
    done: int
    failed_member: str | None
    failed_error: str | None
    body: str
    countdown: float | None
    fired: bool
    expires_in: float | None = None

    @property
    def message(self) -> TaskMessage:
        """The waiting step's message, without the upstream results."""
        return TaskMessage.from_body(self.body)


def read_join(conn: sa.Connection, join_id: str, *, lock: bool = False) -> Join | None:
    """The join of the step ``join_id``; with ``lock``, locked until the transaction ends."""
    query = sa.select(joins).where(joins.c.id == join_id)
    found = conn.execute(query.with_for_update() if lock else query).first()
    if found is None:
        return None
    data = dict(found._mapping)
    data.pop("created_at")
    data["members"] = tuple(decode_json(data["members"]))
    return Join(**data)


def record_with_joins(
    conn: sa.Connection,
    outcomes: Sequence[Outcome],
    write: Callable[[], None],
) -> list[TaskMessage]:
    """Write ``outcomes`` with ``write()`` and advance the joins waiting on them, in ``conn``'s transaction.

    Returns:
        The messages of the steps that fired, to publish once the transaction has committed.
    """
    ran = [o for o in outcomes if o.joins and o.state in states.TERMINAL_STATES and not o.own_row_only]
    # A refused message counts like a failure, with the joins its own row names (join_refusals.py).
    finishing = _finishing(conn, ran) + refusals_finishing(conn, [o for o in outcomes if o.own_row_only])
    write()
    by_join: dict[str, list[Outcome]] = {}
    for outcome in finishing:
        for join_id in outcome.joins:
            by_join.setdefault(join_id, []).append(outcome)
    fired: list[TaskMessage] = []
    for join_id in sorted(by_join):  # one locking order in every transaction: no deadlock
        join = read_join(conn, join_id, lock=True)
        if join is None or join.fired:
            continue
        members = set(join.members)  # a message counts only on a join that waits on its task
        counted = [o for o in by_join[join_id] if o.task_id in members]
        if counted:
            fired += _advance(conn, join, counted)
    return fired


def _finishing(conn: sa.Connection, outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes this transaction moves to a terminal state (their rows locked meanwhile)."""
    if not outcomes:
        return []
    query = (
        sa.select(results.c.id, results.c.state, results.c.attempts)
        .where(results.c.id.in_([o.task_id for o in outcomes]))
        .with_for_update()
    )
    rows = {row.id: row for row in conn.execute(query)}
    # The same test as the outcome's UPDATE: an open row, not from a later attempt.
    return [
        o
        for o in outcomes
        if o.task_id not in rows
        or (rows[o.task_id].state not in states.TERMINAL_STATES and rows[o.task_id].attempts <= o.attempts)
    ]


def _advance(conn: sa.Connection, join: Join, outcomes: list[Outcome]) -> list[TaskMessage]:
    failures = [o for o in outcomes if o.state != states.SUCCESS]
    if join.mode == ERROR:  # an errback: fires on a failure only
        return _fire(conn, join, failures[0].task_id) if failures else []
    done = join.done + len(outcomes) - len(failures)  # successes count even in a failed join (retry)
    if failures and join.failed_member is None:
        _fail(conn, join, failures[0].task_id, _reason(failures[0]))
    if failures or join.failed_member is not None:
        conn.execute(joins.update().where(joins.c.id == join.id).values(done=done))
        return []
    if done >= join.expected:
        # Checked against the rows themselves before firing: a count is never trusted alone.
        found = _member_results(conn, join.members)
        if len(found) == len(set(join.members)):
            values = [found[member] for member in join.members]
            return _fire(conn, join, values[0] if join.mode == ONE else values)
        done = len(found)
    conn.execute(joins.update().where(joins.c.id == join.id).values(done=done))
    return []


def _member_results(conn: sa.Connection, members: tuple[str, ...]) -> dict[str, Any]:
    """The results of the members that succeeded, by id."""
    found: dict[str, Any] = {}
    for start in range(0, len(members), 500):  # bounded IN lists
        chunk = list(members[start : start + 500])
        query = sa.select(results.c.id, results.c.result).where(
            results.c.id.in_(chunk), results.c.state == states.SUCCESS
        )
        found.update(
            {row.id: None if row.result is None else decode_json(row.result) for row in conn.execute(query)}
        )
    return found


def _fire(conn: sa.Connection, join: Join, value: Any) -> list[TaskMessage]:
    """Mark the join fired and give its step a PENDING row carrying its message; return the message."""
    now = time.time()
    base = join.message
    args = base.args if join.immutable else (value, *base.args)
    # An eta or expiry given as a moment is in the message; countdown and a relative expiry
    # count from now, when the step is published.
    eta = base.eta if join.countdown is None else now + join.countdown
    expires = base.expires if join.expires_in is None else now + join.expires_in
    message = replace(base, args=args, created=now, eta=eta, expires=expires)
    conn.execute(joins.update().where(joins.c.id == join.id).values(fired=True, done=join.expected))
    row = {"message": message.to_body(), "created_at": _at(now), "attempts": message.attempt}
    placed = conn.execute(
        results.update()
        .where(results.c.id == join.id, results.c.state == states.PENDING, results.c.message.is_(None))
        .values(**row)
    )
    if placed.rowcount:
        return [message]
    if conn.execute(sa.select(results.c.id).where(results.c.id == join.id)).first() is not None:
        return []  # the step was revoked (or finished) while it waited: it never runs
    conn.execute(insert_ignore(conn, results), [pending_row(message)])
    return [message]


def _fail(conn: sa.Connection, join: Join, member: str, reason: str) -> None:
    """Mark ``join`` failed by ``member``, and its step and every step after it FAILURE."""
    queue = [(join, member)]
    while queue:
        failing, cause = queue.pop()
        conn.execute(
            joins.update().where(joins.c.id == failing.id).values(failed_member=cause, failed_error=reason)
        )
        kind = "ChordError" if failing.mode == ALL and failing.expected > 1 else "ChainError"
        conn.execute(
            results.update()
            .where(results.c.id == failing.id, results.c.state == states.PENDING, results.c.message.is_(None))
            .values(state=states.FAILURE, error_type=kind, error_message=reason, finished_at=_at(time.time()))
        )
        for downstream in sorted(failing.message.joins):
            after = read_join(conn, downstream, lock=True)
            if after is not None and after.mode != ERROR and not after.fired and after.failed_member is None:
                queue.append((after, failing.id))


def _reason(outcome: Outcome) -> str:
    what = "was revoked" if outcome.state == states.REVOKED else "failed"
    return (
        f"task {outcome.task_id} ({outcome.task_name}) {what}: {outcome.error_type}: {outcome.error_message}"
    )


def insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that skips rows whose primary key exists, in ``conn``'s dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite_dialect.insert(table).on_conflict_do_nothing()
    return table.insert().prefix_with("IGNORE")


def pending_row(
    message: TaskMessage | None, task_id: str = "", task_name: str = "", queue: str = ""
) -> dict[str, Any]:
    """A PENDING row: with ``message`` a published task's, without it a step still waiting."""
    if message is None:
        return {
            "id": task_id,
            "task_name": task_name,
            "queue": queue,
            "state": states.PENDING,
            "attempts": 0,
            "created_at": _at(time.time()),
            "message": None,  # no message: reconcile leaves a waiting step alone
        }
    return {
        "id": message.id,
        "task_name": message.task,
        "queue": message.queue,
        "state": states.PENDING,
        "attempts": message.attempt,
        "created_at": _at(message.created),
        "message": message.to_body(),
    }


def encode_members(members: Sequence[str]) -> str:
    """The ``members`` column's JSON."""
    return encode_json(list(members))


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
