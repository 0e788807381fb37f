"""ResultStore: the results table's verbs — writes, reads and waits."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa

from arame.extensions import Extensions, RowWriter, record_with
from arame.message import TaskMessage
from arame.results.after_commit import Publish, publish_after_commit
from arame.results.pg_outcomes import NOTIFY_IDS, one_statement, record_statement
from arame.results.pg_statements import CLAIM as CLAIM_SQL
from arame.results.pg_statements import INSERT_PENDING, INSERT_PENDING_MANY
from arame.results.results_table import results
from arame.results.row_edits import RowEdits
from arame.results.rows import (
    ResultRow,
    claim_groups,
    claim_params,
    from_epoch,
    outcome_params,
    outcome_row,
    pending_json,
    pending_row,
    started_row,
)
from arame.results.statements import (
    ASYNC_COMMIT,
    CLAIM,
    CLAIM_RETURNING,
    LOCK_CLAIMABLE,
    UPDATE_OUTCOME,
    UPDATE_OWN_ROW,
)
from arame.results.task_transaction import (
    TaskTransaction,
    TaskTransactionSource,
    task_transaction,
)
from arame.states import Outcome, Started

__all__ = ["ResultRow", "ResultStore"]


class ResultStore(RowEdits):
    """Reads and writes task rows in one SQL database (writes here, reads: ResultReads).

    The consumer sees it only as a ``ResultRecorder`` (claim, terminated, record).

    The table is created on first use. Safe to share between threads, and used again after a
    fork (the child opens its own connections).

    Args:
        url: an SQLAlchemy URL with its driver (``postgresql+psycopg://…``).
    """

    #: Publishes what the extensions' ``on_record`` returned (the workflow steps that fired), once
    #: the outcomes' transaction has committed; the App sets it.
    publish_fired: Publish | None = None
    #: Atomic tasks: a framework's own transaction (Django's); the App sets it.
    task_transaction_source: TaskTransactionSource | None = None
    #: The features' hooks on the rows' and the outcomes' transactions; the App sets them.
    extensions: Extensions = Extensions()

    # -- writes ----------------------------------------------------------------------------

    def add_pending(self, message: TaskMessage, body: str | None = None) -> None:
        """Record a just-published task as PENDING, unless its id already has a row.

        ``body`` is ``message.to_body()`` when the caller has it already (it publishes the same).
        """
        direct = self.direct(durable=False)
        with_rows = self.extensions.in_row_transaction([message])
        if direct is None or with_rows is not None:
            write = self._writer([message], None if body is None else [body], with_rows)
            with self.transaction() as conn:
                write(conn)
            return
        # PostgreSQL: one statement, one round trip, without BEGIN and COMMIT; not worth a disk
        # flush of its own (should the database crash first, the claim writes the row again).
        direct.rows(INSERT_PENDING, pending_row(message, body))

    def add_pending_many(self, messages: Sequence[TaskMessage], bodies: Sequence[str] | None = None) -> None:
        """Record tasks as PENDING in one transaction, skipping ids that already have a row.

        ``bodies``, when given, are the messages' ``to_body()``, in order.
        """
        direct = self.direct(durable=False)
        with_rows = self.extensions.in_row_transaction(messages)
        if direct is not None and with_rows is None:
            # PostgreSQL: one statement for the batch, not worth a disk flush of its own (as
            # add_pending's row).
            direct.rows(INSERT_PENDING_MANY, {"rows": pending_json(messages, bodies)})
            return
        write = self._writer(messages, bodies, with_rows)
        with self.transaction() as conn:
            write(conn)

    def pending_writer(
        self, messages: Sequence[TaskMessage], bodies: Sequence[str] | None = None
    ) -> RowWriter:
        """What ``add_pending_many`` writes, to run in a transaction of the caller's (deduplication):
        the rows, and what the extensions write with them (``Extension.in_row_transaction``)."""
        return self._writer(messages, bodies, self.extensions.in_row_transaction(messages))

    def _writer(
        self, messages: Sequence[TaskMessage], bodies: Sequence[str] | None, with_rows: RowWriter | None
    ) -> RowWriter:
        if bodies is None:
            rows = [pending_row(message) for message in messages]
        else:
            rows = [pending_row(message, body) for message, body in zip(messages, bodies, strict=True)]

        def write(conn: sa.Connection) -> None:
            if with_rows is not None:
                with_rows(conn)
            elif conn.dialect.name == "postgresql":
                # Not worth a disk flush of its own: should the database crash before its next
                # flush, a worker that claims the task writes the row again (see claim()).
                conn.exec_driver_sql(ASYNC_COMMIT)
            conn.execute(self._insert_ignore_results, rows)

        return write

    def task_transaction(self) -> AbstractContextManager[TaskTransaction]:
        """The transaction an atomic task runs in (see task_transaction.py)."""
        return task_transaction(self, self.task_transaction_source)

    def claim(self, starts: Sequence[Started]) -> set[str]:
        """Mark tasks STARTED, in one transaction, and return the ids this worker may run.

        A task is claimed when its row is not terminal, records no later attempt, records at
        least the attempts the message counts before this one (a message ahead of its row, such
        as a forgery, never claims it), and is not running for another copy of its message
        (only the copy that claimed a running row, come back after its worker died, claims it
        again); a revoke and a claim of the same row, or two copies' claims, are ordered by the
        database, so exactly one of them wins.
        An id without a row (its message was published without one) gets a STARTED row.

        Raises:
            ResultStoreError: the transaction did not commit; nothing was claimed.
        """
        if not starts:
            return set()
        direct = self.direct(durable=False)
        if direct is not None:
            # PostgreSQL: each statement is atomic by itself, so no transaction around them.
            # A claim lost in a database crash only makes the row read PENDING again; its
            # message is unacknowledged and comes back. A revoke committed after it cannot
            # survive the crash without it (the log is flushed in order).
            claimed: set[str] = set()
            for group in claim_groups(starts):
                claimed |= {row[0] for row in direct.rows(CLAIM_SQL, claim_params(group))}
            unclaimed = [s for s in starts if s.task_id not in claimed]
            if unclaimed:
                with self.quick() as conn:
                    claimed |= self._start_missing(conn, unclaimed)
            return claimed
        with self.transaction() as conn:
            return self._claim_on(conn, starts)

    def _claim_on(self, conn: sa.Connection, starts: Sequence[Started]) -> set[str]:
        claimed: set[str] = set()
        for group in claim_groups(starts):
            claimed |= self._mark_started(conn, group)
        unclaimed = [s for s in starts if s.task_id not in claimed]
        if unclaimed:
            claimed |= self._start_missing(conn, unclaimed)
        return claimed

    def _mark_started(self, conn: sa.Connection, starts: list[Started]) -> set[str]:
        params = claim_params(starts)
        if conn.dialect.update_returning:
            return set(conn.execute(CLAIM_RETURNING, params).scalars())
        # MySQL/MariaDB: no UPDATE ... RETURNING; lock the rows first, so no revoke slips between.
        found = set(conn.execute(LOCK_CLAIMABLE, params).scalars())
        if found:
            conn.execute(CLAIM.where(results.c.id.in_(found)), params)
        return found

    def _start_missing(self, conn: sa.Connection, starts: list[Started]) -> set[str]:
        ids = [s.task_id for s in starts]
        present = set(conn.execute(sa.select(results.c.id).where(results.c.id.in_(ids))).scalars())
        missing = [s for s in starts if s.task_id not in present]
        if missing:
            conn.execute(self.insert_ignore(results), [started_row(s) for s in missing])
        return {s.task_id for s in missing}

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write outcomes durably: in one transaction, or on PostgreSQL in one statement that
        also notifies the waiting ``get()`` calls (see pg_outcomes.py).

        A row in a terminal state is never changed, so a redelivered task never overwrites the
        first outcome; nor is a row changed by an outcome of an earlier attempt than the one it
        records. An outcome whose id has no row gets one. An ``own_row_only`` outcome (a refused
        message) updates only the unfinished row its own publish wrote, never another's.

        Raises:
            ResultStoreError: a write did not commit. What one statement wrote before it stays;
                recording the same outcomes again completes the rest and changes nothing else.
        """
        if not outcomes:
            return
        recording = self.extensions.recording(outcomes)
        if self.notices is not None and not recording and one_statement(outcomes):
            # PostgreSQL: one statement, committed by itself and durably (one round trip
            # instead of BEGIN, UPDATE, COMMIT); it notifies the ids it finished at its commit.
            durable = self.direct(durable=True)
            assert durable is not None
            written = {row[0] for row in durable.rows(*record_statement(outcomes))}
            if len(written) == len(outcomes):
                return
            # Rows missing or already finished: the rest goes the general way (writing an
            # outcome twice changes nothing, so a failure there leaves a consistent table).
            outcomes = [outcome for outcome in outcomes if outcome.task_id not in written]
        with self.transaction() as conn:
            # The extensions act in this same transaction (workflow joins advance); what they
            # return is published once it has committed.
            fired = record_with(recording, conn, outcomes, lambda: self._record_on(conn, outcomes))
            if self.notices is not None:  # waiters learn of it at the commit (see notices.py)
                conn.execute(NOTIFY_IDS, {"ids": [outcome.task_id for outcome in outcomes]})
        if fired:
            publish_after_commit(self.publish_fired, fired)

    def _record_on(self, conn: sa.Connection, outcomes: Sequence[Outcome]) -> None:
        updates = [outcome_params(outcome) for outcome in outcomes if not outcome.own_row_only]
        if len(updates) == len(outcomes):
            updated = conn.execute(UPDATE_OUTCOME, updates)
            if updated.rowcount == len(outcomes):
                return  # the common case: every row was there and open
        else:
            if updates:
                conn.execute(UPDATE_OUTCOME, updates)
            self._update_own_rows(conn, [outcome for outcome in outcomes if outcome.own_row_only])
        ids = [outcome.task_id for outcome in outcomes]
        present = set(conn.execute(sa.select(results.c.id).where(results.c.id.in_(ids))).scalars())
        missing = [outcome for outcome in outcomes if outcome.task_id not in present]
        if missing:
            conn.execute(self.insert_ignore(results), [outcome_row(outcome) for outcome in missing])

    def _update_own_rows(self, conn: sa.Connection, outcomes: list[Outcome]) -> None:
        """Refused messages: update a row only where it is the one this message's publish wrote."""
        own = [outcome for outcome in outcomes if outcome.created is not None]
        if own:
            params = [outcome_params(outcome) for outcome in own]
            for param, outcome in zip(params, own, strict=True):
                param["b_task_name"] = outcome.task_name
                param["b_created_at"] = from_epoch(outcome.created or 0.0)
            conn.execute(UPDATE_OWN_ROW, params)
