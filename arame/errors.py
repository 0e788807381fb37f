"""Exceptions raised by arame.

Every error arame raises derives from one root, so ``except arame.ArameError`` catches them all::

    ArameError
    ├── ConfigurationError      a bad URL, option or task declaration
    ├── TransportError          the broker cannot be reached or refused an operation
    │   └── PublishError        a message was not stored by the broker
    ├── ResultStoreError        the results database cannot be reached or refused a write
    │   └── NoResultsTable      a reader found no results table: nothing was recorded there
    ├── MessageError            a message body that does not follow the protocol
    ├── TaskNotRegistered       a name no task of the app answers to
    ├── TimeoutError            a wait ran out (also a builtin ``TimeoutError``)
    │   └── UnknownTaskError    a wait for an id that no one published (no row appeared)
    ├── TaskFailed              the remote task raised; carries its type, message and traceback
    ├── TaskStateError          an operation the task's state does not allow (retry a success)
    └── NotSupportedError       a Celery attribute arame does not have (also an AttributeError);
                                the message names the arame way

``Retry`` is not an error: a task raises it to ask for another attempt later.
``SoftTimeLimitExceeded`` and ``TimeLimitExceeded`` are raised inside a task that runs too long.
Exceptions raised by user tasks are recorded as they are, never wrapped.
"""

from __future__ import annotations

import builtins
import time
from datetime import datetime


class ArameError(Exception):
    """Root of every exception arame raises."""


class ConfigurationError(ArameError, ValueError):
    """A URL, an option or a task declaration is not valid."""


class NotSupportedError(ArameError, AttributeError):
    """A Celery attribute (``task.chunks``, ``app.control.inspect``) arame does not offer.

    An AttributeError too, so ``hasattr`` answers ``False``; the message names the arame way.
    """


class TransportError(ArameError):
    """The broker cannot be reached or refused an operation.

    Attributes:
        url: the broker URL with its password masked.
    """

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class PublishError(TransportError):
    """A message could not be stored by the broker; it was not sent.

    Attributes:
        task_id: the id of the message that was not published.
    """

    def __init__(self, message: str, *, url: str = "", task_id: str = "") -> None:
        super().__init__(message, url=url)
        self.task_id = task_id


class ResultStoreError(ArameError):
    """The results database cannot be reached or refused an operation.

    Attributes:
        url: the results URL with its password masked.
        unstorable: the database refused the data itself (a NUL byte in text, a value longer
            than its column, a constraint): the same write fails again however often it is
            retried. ``False`` for a database that is down or a connection that was lost.
    """

    def __init__(self, message: str, *, url: str = "", unstorable: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.unstorable = unstorable


class NoResultsTable(ResultStoreError):
    """A command that only reads found no results table (a reader creates none)."""


class MessageError(ArameError, ValueError):
    """A message body is not a task message arame can read.

    Attributes:
        reason: what is wrong with it, in a few words.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TaskNotRegistered(ArameError, KeyError):
    """No task of the app is registered under this name."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        super().__init__(name)
        self.name = name
        self.known = known or []

    def __str__(self) -> str:
        known = f"; known: {', '.join(self.known)}" if self.known else ""
        return f"no task named {self.name!r} is registered{known}"


class TimeoutError(ArameError, builtins.TimeoutError):  # noqa: A001 - the public name users expect
    """A wait for a result ran out before the task finished."""


class UnknownTaskError(TimeoutError):
    """A wait for a task id whose row never appeared: no one published it.

    A ``TimeoutError``, so code that waits with a timeout already handles it.

    Attributes:
        task_id: the id waited for.
    """

    def __init__(self, task_id: str, grace: float) -> None:
        super().__init__(
            f"no task with id {task_id} was published (no row appeared within {grace:g}s); "
            "check the id and that the app reads the right results database"
        )
        self.task_id = task_id


class TaskFailed(ArameError):
    """The task raised an exception in the worker.

    Attributes:
        task_id: id of the failed task.
        remote_type: qualified name of the exception type raised by the task.
        remote_message: ``str()`` of that exception.
        remote_traceback: the traceback formatted in the worker.
    """

    def __init__(
        self, task_id: str, remote_type: str, remote_message: str, remote_traceback: str | None
    ) -> None:
        super().__init__(f"{remote_type}: {remote_message}")
        self.task_id = task_id
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback


class Retry(Exception):
    """Raised inside a task to run it again later.

    Args:
        countdown: seconds to wait before the next attempt; ``None`` uses the task's policy.
        exc: the error that caused the retry, recorded on the row.
        eta: an aware datetime for the next attempt, instead of ``countdown``.
        max_retries: overrides the task's ``max_retries`` for this decision.
    """

    def __init__(
        self,
        countdown: float | None = None,
        exc: BaseException | None = None,
        *,
        eta: datetime | None = None,
        max_retries: int | None = None,
    ) -> None:
        if eta is not None:
            if countdown is not None:
                raise ConfigurationError("give countdown or eta, not both")
            if eta.utcoffset() is None:
                raise ConfigurationError("eta must be an aware datetime; a naive one is ambiguous")
            countdown = max(0.0, eta.timestamp() - time.time())
        super().__init__(f"retry in {countdown}s" if countdown is not None else "retry")
        self.countdown = countdown
        self.exc = exc
        self.eta = eta
        self.max_retries = max_retries


class SoftTimeLimitExceeded(Exception):
    """Raised inside a task that passed its ``soft_time_limit``; catch it to clean up."""


class TimeLimitExceeded(Exception):
    """The task passed its hard ``time_limit`` and was stopped."""


class TaskStateError(ArameError):
    """An operation does not fit the task's row: a retry of a task that succeeded or still runs.

    Attributes:
        task_id: the task.
        state: the state its row reads (``UNKNOWN`` when it has none).
    """

    def __init__(self, message: str, *, task_id: str, state: str) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.state = state
