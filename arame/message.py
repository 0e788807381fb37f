"""The task message: what travels from a producer to a worker.

Protocol v1 is a JSON object (see ``docs/protocol.md``). Decoding is tolerant in both directions:
fields a reader does not know are ignored, and fields a writer left out take their defaults, so
an older worker reads a newer message and a newer worker reads an older one.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard, TypeVar

from arame.errors import MessageError
from arame.json_values import decode_json, encode_json

T = TypeVar("T")

#: arame's one priority scale, the same on every transport: 0 lowest .. 9 highest.
MIN_PRIORITY, MAX_PRIORITY = 0, 9
PROTOCOL_VERSION = 1
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"


#: The longest id, task name and queue name: the results table's columns hold this many characters.
MAX_NAME_LENGTH = 255
#: The most attempts a message may count: its next one must fit the results table's 32-bit column.
MAX_ATTEMPT = 2**31 - 2
#: Epoch seconds a message's times may hold: what a datetime holds (years 1 to 9999), a day inside.
MIN_EPOCH = datetime(1, 1, 2, tzinfo=UTC).timestamp()
MAX_EPOCH = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


#: The longest copy id a message may carry: the results table's ``claim`` column holds this many.
COPY_LENGTH = 32


def new_copy_id() -> str:
    """Return a fresh copy id (see ``TaskMessage.copy``)."""
    return uuid.uuid4().hex


def new_task_id() -> str:
    """Return a fresh task id (uuid4, hex)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """One request to run a task.

    Attributes:
        id: the task id, unique per task (a retry keeps it).
        task: the registered name of the task.
        args: positional arguments.
        kwargs: keyword arguments.
        queue: the queue it was published to.
        attempt: how many times it has already been started before this delivery's publish.
        eta: epoch seconds before which it must not run, if any.
        expires: epoch seconds after which it must not start, if any.
        priority: 0 (lowest) to 9 (highest), if set.
        created: epoch seconds when it was first published.
        version: the protocol version it was written with.
        trace: the W3C trace context (``traceparent``, ``tracestate``) of the span that sent it,
            when tracing is on (see ``arame.tracing``); a retry keeps it.
        joins: ids of the workflow steps waiting on this task's outcome (see ``arame.canvas``).
        copy: which publish of the task this is: ``None`` for the first, a fresh id for each
            publish again from its row (retry, reconcile). Of two copies in the broker at once,
            the one whose claim wins runs, and only its own redelivery may claim again.
    """

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    attempt: int = 0
    eta: float | None = None
    expires: float | None = None
    priority: int | None = None
    created: float = field(default_factory=time.time)
    version: int = PROTOCOL_VERSION
    trace: dict[str, str] | None = None
    joins: tuple[str, ...] = ()  # workflows (arame.canvas): written only when set
    copy: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The 32-hex-digit trace id of ``trace``'s ``traceparent``, if it carries a valid one."""
        parent = self.trace.get("traceparent", "") if self.trace else ""
        parts = parent.split("-")
        return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None

    def __post_init__(self) -> None:
        # Refused here, before any row or message is written: the results table could not
        # store the outcome of a task whose id, name or queue is longer than its columns.
        if (
            len(self.id) > MAX_NAME_LENGTH
            or len(self.task) > MAX_NAME_LENGTH
            or len(self.queue) > MAX_NAME_LENGTH
        ):
            _refuse_long_names(self)

    def to_body(self) -> str:
        """Encode as the JSON wire body.

        Raises:
            MessageError: an argument is not JSON-serialisable.
        """
        body: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "id": self.id,
            "task": self.task,
            "args": list(self.args),
            "kwargs": self.kwargs,
            "queue": self.queue,
            "attempt": self.attempt,
            "created": self.created,
        }
        # Optional fields are written only when set: smaller bodies, and nothing for old readers.
        if self.eta is not None:
            body["eta"] = self.eta
        if self.expires is not None:
            body["expires"] = self.expires
        if self.priority is not None:
            body["priority"] = self.priority
        if self.trace:
            body["trace"] = self.trace
        if self.joins:
            body["joins"] = list(self.joins)
        if self.copy is not None:
            body["copy"] = self.copy
        try:
            return encode_json(body)
        except (TypeError, ValueError) as exc:
            raise MessageError(f"task {self.task!r} arguments are not JSON-serialisable: {exc}") from exc

    @classmethod
    def from_body(cls, body: bytes | str | dict[str, Any]) -> TaskMessage:
        """Decode a wire body, ignoring unknown fields and defaulting missing optional ones.

        Raises:
            MessageError: the body is not JSON, not an object, lacks a valid ``id`` or ``task``,
                or has a field of the wrong type or out of its range (an attempt count or a
                time no results row can hold, a priority off the 0-9 scale).
        """
        data = body if isinstance(body, dict) else _loads(body)
        if not isinstance(data, dict):
            raise MessageError(f"the body is a JSON {type(data).__name__}, not an object")
        task_id, name = data.get("id"), data.get("task")
        if not isinstance(task_id, str) or not task_id:
            raise MessageError("the body has no string 'id'")
        if not isinstance(name, str) or not name:
            raise MessageError("the body has no string 'task'")
        args, kwargs = data.get("args", []), data.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise MessageError("'args' must be a list and 'kwargs' an object")
        return cls(
            id=task_id,
            task=name,
            args=tuple(args),
            kwargs=kwargs,
            queue=_field(data, "queue", str, "default"),
            attempt=_field(data, "attempt", _attempt, 0),
            eta=_field(data, "eta", _optional_epoch, None),
            expires=_field(data, "expires", _optional_epoch, None),
            priority=_field(data, "priority", _priority, None),
            created=_field(data, "created", _epoch, 0.0),
            version=_field(data, "v", int, PROTOCOL_VERSION),
            trace=_trace_context(data.get("trace")),
            joins=_joins(data.get("joins")),
            copy=_copy(data.get("copy")),
        )


def _refuse_long_names(message: TaskMessage) -> None:
    for what, value in (("task id", message.id), ("task name", message.task), ("queue name", message.queue)):
        if len(value) > MAX_NAME_LENGTH:
            raise MessageError(
                f"the {what} {value[:40]!r}... is {len(value)} characters long, over the "
                f"limit of {MAX_NAME_LENGTH} (the results table's column)"
            )


def _loads(raw: bytes | str) -> Any:
    try:
        return decode_json(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"the body is not valid JSON: {exc}") from exc


def _trace_context(value: Any) -> dict[str, str] | None:
    """A trace context of strings, or none: a malformed one never refuses the message."""
    if not isinstance(value, dict):
        return None
    context = {str(key): item for key, item in value.items() if isinstance(item, str)}
    return context or None


def _joins(value: Any) -> tuple[str, ...]:
    # Tolerant: anything but a list of strings reads as no workflow step waiting.
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def _copy(value: Any) -> str | None:
    # Tolerant: only a short text is a copy id (it is compared with the row's, never run).
    return value if isinstance(value, str) and 0 < len(value) <= COPY_LENGTH else None


def _field(data: dict[str, Any], name: str, read: Callable[[Any], T], default: Any) -> T:
    """``data[name]`` read by ``read``; any failure refuses the message, naming the field."""
    value = data.get(name, default)
    try:
        return read(value)
    except (TypeError, ValueError, ArithmeticError) as exc:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise MessageError(
            f"the field {name!r} has the wrong type or is out of range: {shown} ({exc})"
        ) from exc


def _attempt(value: Any) -> int:
    count = int(value)
    if not 0 <= count <= MAX_ATTEMPT:
        raise ValueError(f"an attempt count is between 0 and {MAX_ATTEMPT}")
    return count


def _priority(value: Any) -> int | None:
    if value is None:
        return None
    priority = int(value)
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"a priority is between {MIN_PRIORITY} and {MAX_PRIORITY}")
    return priority


def is_epoch(value: Any) -> TypeGuard[float]:
    """Whether ``value`` is a number of epoch seconds a datetime (and so a results row) can hold."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and MIN_EPOCH <= value <= MAX_EPOCH
    )


def _epoch(value: Any) -> float:
    seconds = float(value)
    if not is_epoch(seconds):
        raise ValueError("a time is epoch seconds within the years 1 to 9999")
    return seconds


def _optional_epoch(value: Any) -> float | None:
    return None if value is None else _epoch(value)
