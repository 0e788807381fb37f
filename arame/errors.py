"""Exceptions raised by arame.

Every error arame raises derives from one root, so ``except arame.ArameError`` catches them all::

    ArameError
    ├── ConfigurationError      a bad URL, option or task declaration
    ├── TransportError          the broker cannot be reached or refused an operation
    │   └── PublishError        a message was not stored by the broker
    ├── ResultStoreError        the results database cannot be reached or refused a write
    ├── MessageError            a message body that does not follow the protocol
    ├── TaskNotRegistered       a name no task of the app answers to
    ├── TimeoutError            a wait ran out (also a builtin ``TimeoutError``)
    └── TaskFailed              the remote task raised; carries its type, message and traceback

``Retry`` is not an error: a task raises it to ask for another attempt later.
``SoftTimeLimitExceeded`` and ``TimeLimitExceeded`` are raised inside a task that runs too long.
Exceptions raised by user tasks are recorded as they are, never wrapped.
"""

from __future__ import annotations

import builtins


class ArameError(Exception):
    """Root of every exception arame raises."""


class ConfigurationError(ArameError, ValueError):
    """A URL, an option or a task declaration is not valid."""


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
    """

    def __init__(self, countdown: float | None = None, exc: BaseException | None = None) -> None:
        super().__init__(f"retry in {countdown}s" if countdown is not None else "retry")
        self.countdown = countdown
        self.exc = exc


class SoftTimeLimitExceeded(Exception):
    """Raised inside a task that passed its ``soft_time_limit``; catch it to clean up."""


class TimeLimitExceeded(Exception):
    """The task passed its hard ``time_limit`` and was stopped."""
