"""execute(): one task message in, one outcome out. Pure: no broker, no database."""

from __future__ import annotations

import time
import traceback
from typing import Any

from arame import states, tracing
from arame.consumers.retry import retry_delay
from arame.errors import Retry
from arame.message import TaskMessage
from arame.message import encode_json as _encode_result
from arame.states import Outcome
from arame.task import Task


def execute(task: Task[Any, Any], message: TaskMessage, worker: str) -> Outcome:
    """Run ``task`` as ``message`` asks and say how it ended.

    The message was admitted (see ``Admission``): its task is ``task`` and its arguments fit.
    Never raises for anything the task does: an exception becomes a FAILURE outcome with its
    type, message and traceback (or RETRY with the time of the next attempt, when the task's
    retry policy allows another); so does a return value that is not JSON. An expired message
    is not run: REVOKED.
    """
    attempts = message.attempt + 1
    now = time.time()
    if message.expires is not None and now > message.expires:
        return _failed(
            message,
            worker,
            attempts,
            None,
            states.REVOKED,
            "TaskExpired",
            f"expired at {message.expires:.3f} (epoch), before a worker started it",
        )
    started = time.time()
    try:
        value = tracing.run(task, message, worker)  # Tracing hook: runs the task in a span when on
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a task's exception is its outcome, as it is
        delay = retry_delay(task.options, exc, attempts)
        cause = exc.exc if isinstance(exc, Retry) and exc.exc is not None else exc
        return Outcome(
            message.id,
            message.task,
            message.queue,
            states.FAILURE if delay is None else states.RETRY,
            error_type=_qualified_name(type(cause)),
            error_message=str(cause),
            traceback=traceback.format_exc(),
            attempts=attempts,
            worker=worker,
            started_at=started,
            retry_at=None if delay is None else time.time() + delay,
            finished_at=time.time(),
        )
    try:
        encoded = _encode_result(value)
    except (TypeError, ValueError) as exc:
        return _failed(
            message,
            worker,
            attempts,
            started,
            states.FAILURE,
            "UnserializableResult",
            f"the return value is not JSON-serialisable: {exc}",
        )
    return Outcome(
        message.id,
        message.task,
        message.queue,
        states.SUCCESS,
        result_json=encoded,
        attempts=attempts,
        worker=worker,
        started_at=started,
        finished_at=time.time(),
    )


def _failed(
    message: TaskMessage,
    worker: str,
    attempts: int,
    started: float | None,
    state: str,
    error_type: str,
    error_message: str,
) -> Outcome:
    return Outcome(
        message.id,
        message.task,
        message.queue,
        state,
        error_type=error_type,
        error_message=error_message,
        attempts=attempts,
        worker=worker,
        started_at=started,
        finished_at=time.time(),
    )


def _qualified_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
