"""Writing a workflow's rows before it is published, reopening a failed one for a retry, and
pruning the joins of finished ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from arame import states
from arame.coordination.joins import Join, encode_members, insert_ignore, pending_row, read_join
from arame.coordination.joins_table import joins
from arame.json_values import decode_json
from arame.message import TaskMessage
from arame.results.results_table import results

if TYPE_CHECKING:
    from arame.canvas.plan import Wait
    from arame.results.outbox_rows import Execute
    from arame.results.result_store import ResultStore


def write_plan(store: ResultStore, roots: Sequence[TaskMessage], waits: Sequence[Wait]) -> None:
    """In one transaction: PENDING rows for the tasks published now (with their messages), for
    the waiting steps (without: reconcile leaves them alone), and a join row per waiting step."""
    waiting, join_rows = waiting_rows(waits)
    rows = [pending_row(message) for message in roots] + waiting
    with store.transaction() as conn:
        if rows:
            conn.execute(insert_ignore(conn, results), rows)
        if join_rows:
            conn.execute(insert_ignore(conn, joins), join_rows)


def waits_writer(store: ResultStore, waits: Sequence[Wait]) -> Callable[[Execute], None]:
    """Writes the rows and joins of a workflow's waiting steps through a caller's ``execute``
    (the outbox: in the caller's transaction)."""
    rows, join_rows = waiting_rows(waits)

    def write(execute: Execute) -> None:
        if rows:
            execute(store.insert_ignore(results), rows)
        if join_rows:
            execute(store.insert_ignore(joins), join_rows)

    return write


def waiting_rows(waits: Sequence[Wait]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The PENDING rows (without messages) of a workflow's waiting steps, and their join rows."""
    rows = [pending_row(None, w.message.id, w.message.task, w.message.queue) for w in waits if w.placeholder]
    now = datetime.fromtimestamp(time.time(), UTC)
    return rows, [_join_row(wait, now) for wait in waits]


def forget_plan(store: ResultStore, task_ids: Sequence[str]) -> None:
    """Remove the rows and joins of a workflow whose first tasks could not be published."""
    with store.transaction() as conn:
        for start in range(0, len(task_ids), 500):  # bounded IN lists
            chunk = list(task_ids[start : start + 500])
            conn.execute(joins.delete().where(joins.c.id.in_(chunk)))
            conn.execute(results.delete().where(results.c.id.in_(chunk), results.c.state == states.PENDING))


def join_of(store: ResultStore, task_id: str) -> Join | None:
    """The join the step ``task_id`` waits on, or ``None`` for a task that waits on nothing."""
    with store.connect() as conn:
        return read_join(conn, task_id)


def reopen_steps(store: ResultStore, step_ids: Sequence[str]) -> None:
    """Reopen failed joins and their steps, and every step after them, so that they run again
    when the tasks they wait on succeed: a retry of a workflow keeps what already succeeded."""
    with store.transaction() as conn:
        queue = sorted(step_ids, reverse=True)
        seen: set[str] = set()
        while queue:
            step = queue.pop()
            join = read_join(conn, step, lock=True)
            if step in seen or join is None or join.fired:
                continue
            seen.add(step)
            conn.execute(
                joins.update().where(joins.c.id == step).values(failed_member=None, failed_error=None)
            )
            conn.execute(
                results.update()
                .where(results.c.id == step, results.c.state == states.FAILURE, results.c.message.is_(None))
                .values(state=states.PENDING, error_type=None, error_message=None, finished_at=None)
            )
            queue += sorted(join.message.joins, reverse=True)


def _join_row(wait: Wait, now: datetime) -> dict[str, Any]:
    return {
        "id": wait.message.id,
        "mode": wait.mode,
        "immutable": wait.immutable,
        "members": encode_members(wait.members),
        "expected": len(wait.members),
        "done": 0,
        "failed_member": None,
        "failed_error": None,
        "body": wait.message.to_body(),
        "countdown": wait.countdown,
        "expires_in": wait.expires_in,
        "fired": False,
        "created_at": now,
    }


def prune_joins(store: ResultStore, before: datetime, batch: int = 500) -> int:
    """Delete the joins that can no longer change: their step's row and every member's row are
    gone or finished before ``before`` (pruned with the results, or about to be); return how many.

    A join still needed (a member or its step open, or finished recently enough to be retried)
    is kept; batches keep each transaction short.
    """
    deleted, after = 0, ""
    while True:
        with store.transaction() as conn:
            found = conn.execute(
                sa.select(joins.c.id, joins.c.members)
                .where(joins.c.id > after, joins.c.created_at < before)
                .order_by(joins.c.id)
                .limit(batch)
            ).all()
            members = {row.id: set(decode_json(row.members)) for row in found}
            live = _live(conn, set(members).union(*members.values()), before)
            done = [step for step, waited_on in members.items() if step not in live and not waited_on & live]
            if done:
                conn.execute(joins.delete().where(joins.c.id.in_(done)))
        deleted += len(done)
        if len(found) < batch:
            return deleted
        after = found[-1].id


def _live(conn: sa.Connection, task_ids: set[str], before: datetime) -> set[str]:
    """The ids among ``task_ids`` whose rows exist and are open or finished since ``before``."""
    ids, live = sorted(task_ids), set[str]()
    expired = sa.and_(results.c.state.in_(states.TERMINAL_STATES), results.c.finished_at < before)
    for start in range(0, len(ids), 500):  # bounded IN lists
        query = sa.select(results.c.id).where(results.c.id.in_(ids[start : start + 500]), sa.not_(expired))
        live.update(conn.execute(query).scalars())
    return live
