"""The task message: what travels from a producer to a worker.

Protocol v1 is a JSON object (see ``docs/protocol.md``). Decoding is tolerant in both directions:
fields a reader does not know are ignored, and fields a writer left out take their defaults, so
an older worker reads a newer message and a newer worker reads an older one.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from arame.errors import MessageError

PROTOCOL_VERSION = 1
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"

#: The longest id, task name and queue name: the results table's columns hold this many characters.
MAX_NAME_LENGTH = 255

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
        try:
            return _encode(body)
        except (TypeError, ValueError) as exc:
            raise MessageError(f"task {self.task!r} arguments are not JSON-serialisable: {exc}") from exc

    @classmethod
    def from_body(cls, body: bytes | str | dict[str, Any]) -> TaskMessage:
        """Decode a wire body, ignoring unknown fields and defaulting missing optional ones.

        Raises:
            MessageError: the body is not JSON, not an object, or lacks a valid ``id`` or ``task``.
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
        try:
            return cls(
                id=task_id,
                task=name,
                args=tuple(args),
                kwargs=kwargs,
                queue=str(data.get("queue", "default")),
                attempt=int(data.get("attempt", 0)),
                eta=_optional_float(data.get("eta")),
                expires=_optional_float(data.get("expires")),
                priority=None if data.get("priority") is None else int(data["priority"]),
                created=float(data.get("created", 0.0)),
                version=int(data.get("v", PROTOCOL_VERSION)),
            )
        except MessageError:
            raise
        except (TypeError, ValueError) as exc:
            raise MessageError(f"a field has the wrong type: {exc}") from exc


def _refuse_long_names(message: TaskMessage) -> None:
    for what, value in (("task id", message.id), ("task name", message.task), ("queue name", message.queue)):
        if len(value) > MAX_NAME_LENGTH:
            raise MessageError(
                f"the {what} {value[:40]!r}... is {len(value)} characters long, over the "
                f"limit of {MAX_NAME_LENGTH} (the results table's column)"
            )


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"the body is not valid JSON: {exc}") from exc


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
