"""execute(): one task message in, one outcome out. Pure: no broker, no database."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from arame import states
from arame.consumers import outcomes
from arame.consumers.retry_publisher import retry_delay
from arame.errors import Retry
from arame.json_values import encode_json as _encode_result
from arame.message import TaskMessage
from arame.states import Outcome
from arame.task import Task

if TYPE_CHECKING:
    from arame.extensions import Extensions


def execute(
    task: Task[Any, Any], message: TaskMessage, worker: str, extensions: Extensions | None = None
) -> Outcome:
    """Run ``task`` as ``message`` asks and say how it ended.

    The message was admitted (see ``Admission``): its task is ``task`` and its arguments fit.
    Never raises for anything the task does: whatever it raises, ``BaseException``s such as
    ``asyncio.CancelledError`` included, becomes a FAILURE outcome with its type, message and
    traceback (or RETRY with the time of the next attempt, when the task's retry policy allows
    another); so does a return value that cannot be encoded as JSON. An expired message is not
    run: REVOKED.

    ``extensions`` (default: the task's App's; a worker passes its own) act around the task's
    own code (``around_execution``).
    """
    if message.expires is not None and time.time() > message.expires:
        return expired(message, worker)
    started = time.time()
    try:
        hooks = task.app.extensions if extensions is None else extensions
        with hooks.around_execution(task, message):  # the features' (a trace's span, metrics)
            value = task.run_message(message, worker)
    except BaseException as exc:  # noqa: BLE001 - a task's exception is its outcome, whatever it is
        return raised(task, message, worker, started, exc)
    return returned(message, worker, started, value)


def expired(message: TaskMessage, worker: str) -> Outcome:
    """The message expired before a worker started it: REVOKED, not run."""
    reason = f"expired at {message.expires:.3f} (epoch), before a worker started it"
    return outcomes.failed(message, worker, "TaskExpired", reason, state=states.REVOKED)


def returned(message: TaskMessage, worker: str, started: float, value: Any) -> Outcome:
    """The task returned ``value``: SUCCESS, or FAILURE if it cannot be encoded as JSON."""
    try:
        encoded = _encode_result(value)
    except Exception as exc:  # noqa: BLE001 - TypeError, ValueError, RecursionError (a deep value)
        reason = f"the return value is not JSON-serialisable: {type(exc).__name__}: {exc}"
        return outcomes.failed(message, worker, "UnserializableResult", reason, started=started)
    return outcomes.succeeded(message, worker, started, encoded)


def raised(
    task: Task[Any, Any], message: TaskMessage, worker: str, started: float, exc: BaseException
) -> Outcome:
    """The task raised ``exc``: FAILURE, or RETRY if its policy allows another attempt.

    Called inside the ``except``: the traceback is the task's.
    """
    retry_in = retry_delay(task.options, exc, message.attempt + 1)
    cause = exc.exc if isinstance(exc, Retry) and exc.exc is not None else exc
    return outcomes.raised(message, worker, started, cause, retry_in)
