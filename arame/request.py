"""The request a bound task sees as ``self.request``: the delivery it is running for.

Celery's ``bind=True`` spelling: the function receives its task as ``self``. The current
delivery is kept in a context variable, so each worker thread (and each asyncio task) sees its
own; it is read lazily, so a run pays one ``ContextVar.set`` and nothing more.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from arame.message import TaskMessage

#: (message, worker) of the delivery the current thread is running, if any.
_running: ContextVar[tuple[TaskMessage, str] | None] = ContextVar("arame_running", default=None)


@dataclass(frozen=True, slots=True)
class Request:
    """What a running task knows about its delivery (Celery's ``self.request``).

    Outside a worker (a plain call) every field is empty and ``called_directly`` is true.

    Attributes:
        id: the task id.
        task: the task's registered name.
        retries: how many times it was retried before this attempt (0 on the first).
        args: positional arguments.
        kwargs: keyword arguments.
        hostname: the worker running it (``host:pid``).
        delivery_info: ``routing_key`` (the queue), ``exchange`` and ``priority``, as Celery names them.
        eta: epoch seconds before which it was not to run, if any.
        expires: epoch seconds after which it was not to start, if any.
        called_directly: true when the function is called in-process, not by a worker.
    """

    id: str | None = None
    task: str | None = None
    retries: int = 0
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    hostname: str | None = None
    delivery_info: dict[str, Any] = field(default_factory=dict)
    eta: float | None = None
    expires: float | None = None
    called_directly: bool = True


_DIRECT = Request()


def current_request() -> Request:
    """The request of the delivery this thread is running, or an empty one outside a worker."""
    running = _running.get()
    if running is None:
        return _DIRECT
    message, worker = running
    return Request(
        id=message.id,
        task=message.task,
        retries=message.attempt,
        args=message.args,
        kwargs=message.kwargs,
        hostname=worker,
        delivery_info={"routing_key": message.queue, "exchange": "", "priority": message.priority},
        eta=message.eta,
        expires=message.expires,
        called_directly=False,
    )


def run_with_request(message: TaskMessage, worker: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``call(*args, **kwargs)`` with ``message`` as the current request of this thread."""
    token = _running.set((message, worker))
    try:
        return call(*args, **kwargs)
    finally:
        _running.reset(token)


def enter_request(message: TaskMessage, worker: str) -> None:
    """Make ``message`` the current request for the rest of this context (an asyncio task's own)."""
    _running.set((message, worker))
