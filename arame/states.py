"""Task states and the outcome record the worker hands to the result store.

The names are Celery's, with one fix: ``PENDING`` means a row says the task was published,
and an id no one published reads ``UNKNOWN``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PENDING: Final = "PENDING"
STARTED: Final = "STARTED"
RETRY: Final = "RETRY"
SUCCESS: Final = "SUCCESS"
FAILURE: Final = "FAILURE"
REVOKED: Final = "REVOKED"
UNKNOWN: Final = "UNKNOWN"

ALL_STATES: Final = frozenset({PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, UNKNOWN})
#: States a row never leaves: a write that would move a row out of one is ignored.
TERMINAL_STATES: Final = frozenset({SUCCESS, FAILURE, REVOKED})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery of a task, ready to be written to its row.

    Attributes:
        task_id: id of the task.
        task_name: registered name, or the name the message asked for.
        queue: queue the message came from.
        state: a terminal state (or ``RETRY``).
        result_json: the return value encoded as JSON text, on success.
        error_type: qualified name of the exception, on failure.
        error_message: ``str()`` of the exception, on failure.
        traceback: the formatted traceback, on failure.
        attempts: how many times the task has been started, this one included.
        worker: ``host:pid`` of the worker that ran it.
        started_at: epoch seconds when the function was called, if it was.
        finished_at: epoch seconds when the outcome was known.
        retry_at: for RETRY, epoch seconds of the next attempt.
        own_row_only: the message was refused (dead-lettered): the outcome may insert a row for
            an id that has none, and may update only the row that this very message's publish
            wrote (same task name and ``created``, still unfinished); never another task's row.
        created: for ``own_row_only``, the ``created`` time the message carries, if it has one.
        joins: the workflow steps waiting on this outcome (the message's ``joins``).
        committed: already committed, in an atomic task's own transaction: the writer only
            reports it, without writing it again.
    """

    task_id: str
    task_name: str
    queue: str
    state: str
    result_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    attempts: int = 1
    worker: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    retry_at: float | None = None
    own_row_only: bool = False
    created: float | None = None
    joins: tuple[str, ...] = ()  # workflows: see arame/coordination/joins.py
    committed: bool = False


@dataclass(frozen=True, slots=True)
class Started:
    """A worker is about to run a task.

    Attributes:
        task_id: id of the task.
        attempts: how many times it has been started, this one included.
        worker: ``host:pid`` of the worker.
        at: epoch seconds.
        task_name: the task's registered name (for a row that does not exist yet).
        queue: the queue it came from (likewise).
        copy: the message's copy id, ``""`` for the first publish (see ``TaskMessage.copy``).
    """

    task_id: str
    attempts: int
    worker: str
    at: float
    task_name: str
    queue: str
    copy: str = ""
