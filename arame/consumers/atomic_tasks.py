"""Running an atomic task: inside its transaction, committed with its SUCCESS row or not at all."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from arame import states
from arame.consumers import outcomes
from arame.consumers.execute import execute
from arame.consumers.recorder import ResultRecorder, TaskTransaction
from arame.errors import ResultStoreError
from arame.message import TaskMessage
from arame.states import Outcome
from arame.task import Task

if TYPE_CHECKING:
    from arame.extensions import Extensions


def execute_atomically(
    recorder: ResultRecorder,
    task: Task[Any, Any],
    message: TaskMessage,
    worker: str,
    running: dict[str, TaskTransaction] | None = None,
    extensions: Extensions | None = None,
) -> Outcome:
    """Run ``task`` in a transaction on the results database and record a SUCCESS in it.

    Any other ending (an exception, a retry, a time limit) rolls the transaction back, so the
    task's writes are undone; its outcome is then recorded like any other task's.

    ``running`` holds the open transaction under the task's id while it runs (a hard time
    limit abandons it). A task that broke its own transaction (it caught an SQL error after which PostgreSQL
    refuses every statement) ends in FAILURE: running it again would only break it again.
    ``extensions`` act around the task's code (see ``execute``).

    Raises:
        ResultStoreError: the transaction did not commit: nothing of the run stays, and the
            message must be given back to run again.
    """
    outcome: Outcome | None = None
    recorded = False
    try:
        with recorder.task_transaction() as transaction:
            if running is not None:
                running[message.id] = transaction
            try:
                outcome = execute(task, message, worker, extensions)
            finally:
                if running is not None:
                    running.pop(message.id, None)
            if outcome.state == states.SUCCESS:
                recorded = transaction.record(outcome)
    except ResultStoreError as exc:
        if outcome is None or not exc.unstorable:
            raise
        reason = (
            f"{exc} (an SQL error inside an atomic task aborts its transaction; catch it in a "
            "savepoint: arame.connection().begin_nested())"
        )
        return outcomes.failed(message, worker, "TransactionAborted", reason, started=outcome.started_at)
    return replace(outcome, committed=True) if recorded else outcome
