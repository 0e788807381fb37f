"""Outcomes: every way a delivery can end, built in one place for the results table."""

from __future__ import annotations

import os
import socket
import time
import traceback

from arame import states
from arame.errors import SoftTimeLimitExceeded
from arame.message import TaskMessage
from arame.states import Outcome


def succeeded(message: TaskMessage, worker: str, started: float, result_json: str) -> Outcome:
    """The task returned a value, encoded as JSON text."""
    return Outcome(
        message.id,
        message.task,
        message.queue,
        states.SUCCESS,
        result_json=result_json,
        attempts=message.attempt + 1,
        worker=worker,
        started_at=started,
        finished_at=time.time(),
        joins=message.joins,  # workflows: the steps waiting on it
    )


def raised(
    message: TaskMessage, worker: str, started: float, error: BaseException, retry_in: float | None
) -> Outcome:
    """The task raised ``error`` (from inside its ``except``): FAILURE, or RETRY in ``retry_in`` s."""
    return Outcome(
        message.id,
        message.task,
        message.queue,
        states.FAILURE if retry_in is None else states.RETRY,
        error_type=qualified_name(type(error)),
        error_message=_text_of(error),
        traceback=traceback.format_exc(),
        attempts=message.attempt + 1,
        worker=worker,
        started_at=started,
        retry_at=None if retry_in is None else time.time() + retry_in,
        finished_at=time.time(),
        joins=message.joins,  # workflows: the steps waiting on it
    )


def failed(
    message: TaskMessage,
    worker: str,
    error_type: str,
    error_message: str,
    *,
    started: float | None = None,
    state: str = states.FAILURE,
) -> Outcome:
    """The task did not end with a value for a reason of arame's (expired, unencodable, ...)."""
    return Outcome(
        message.id,
        message.task,
        message.queue,
        state,
        error_type=error_type,
        error_message=error_message,
        attempts=message.attempt + 1,
        worker=worker,
        started_at=started,
        finished_at=time.time(),
        joins=message.joins,  # workflows: the steps waiting on it
    )


def over_limit(message: TaskMessage, worker: str, kind: type[BaseException]) -> Outcome:
    """The task ran past its soft or hard time limit."""
    soft = "soft " if kind is SoftTimeLimitExceeded else ""
    return failed(message, worker, f"arame.errors.{kind.__name__}", f"the task ran past its {soft}time limit")


def refused(
    task_id: str,
    task_name: str,
    queue: str,
    worker: str,
    kind: str,
    reason: str,
    *,
    created: float | None = None,
    attempt: int = 0,
) -> Outcome:
    """A message no worker runs (dead-lettered): it may write its own row, never another task's."""
    return Outcome(
        task_id,
        task_name,
        queue,
        states.FAILURE,
        error_type=kind,
        error_message=reason,
        attempts=attempt + 1,
        worker=worker,
        finished_at=time.time(),
        own_row_only=True,
        created=created,
    )


def qualified_name(kind: type[BaseException]) -> str:
    """``ValueError`` for builtins, ``module.Class`` otherwise."""
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _text_of(error: BaseException) -> str:
    try:
        return str(error)
    except Exception as exc:  # noqa: BLE001 - a broken __str__ must not lose the outcome
        return f"<str() of the exception raised {type(exc).__name__}>"


def worker_name() -> str:
    """``host:pid`` of this process, recorded on each row it writes."""
    return f"{socket.gethostname()}:{os.getpid()}"
