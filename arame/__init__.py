"""arame: tasks, brokers, workers and a SQL results table, without Celery."""

from arame.app import App, shared_task
from arame.atomic import connection
from arame.canvas.builders import chain, chord, group, signature
from arame.canvas.nodes import Signature
from arame.errors import (
    ArameError,
    ConfigurationError,
    MessageError,
    PublishError,
    ResultStoreError,
    Retry,
    SoftTimeLimitExceeded,
    TaskFailed,
    TaskNotRegistered,
    TimeLimitExceeded,
    TimeoutError,  # noqa: A004 - the public name users expect
    TransportError,
)
from arame.extensions import Extension
from arame.request import Request
from arame.results import AsyncResult
from arame.results.group_result import GroupResult
from arame.states import FAILURE, PENDING, RETRY, REVOKED, STARTED, SUCCESS, UNKNOWN
from arame.task import Task

__version__ = "0.1.0"

__all__ = [
    "FAILURE",
    "PENDING",
    "RETRY",
    "REVOKED",
    "STARTED",
    "SUCCESS",
    "UNKNOWN",
    "App",
    "ArameError",
    "AsyncResult",
    "ConfigurationError",
    "Extension",
    "GroupResult",
    "MessageError",
    "PublishError",
    "Request",
    "ResultStoreError",
    "Retry",
    "Signature",
    "SoftTimeLimitExceeded",
    "Task",
    "TaskFailed",
    "TaskNotRegistered",
    "TimeLimitExceeded",
    "TimeoutError",
    "TransportError",
    "chain",
    "chord",
    "connection",
    "group",
    "shared_task",
    "signature",
]
