"""The results table's edits of single rows: revoke, progress, forget; ResultStore adds the task path."""

from __future__ import annotations

import time
from collections.abc import Sequence

from arame import states
from arame.results.result_reads import ResultReads
from arame.results.results_table import results
from arame.results.rows import from_epoch
from arame.results.statements import NOT_TERMINAL
from arame.results.task_transaction import in_task_transaction


class RowEdits(ResultReads):
    """Revoking, progress and forgetting, one row (or one batch of ids) at a time."""

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
        revocable = NOT_TERMINAL if terminate else results.c.state.in_([states.PENDING, states.RETRY])
        with self.transaction() as conn:
            revoked = conn.execute(
                results.update()
                .where(results.c.id == task_id, revocable)
                .values(
                    state=states.REVOKED,
                    error_type="TaskTerminated" if terminate else "TaskRevoked",
                    error_message=reason,
                    finished_at=from_epoch(time.time()),
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
            .where(results.c.id == task_id, NOT_TERMINAL)
            .values(state=state, result=meta_json)
        )
        own = in_task_transaction(self, statement)  # SQLite: the atomic task's lock is its own
        if own is not None:
            return bool(own)
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
