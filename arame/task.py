"""Task: a plain function declared as a task, with its options."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, NoReturn, ParamSpec, Protocol, TypeVar

from arame.aioloop import run_coroutine
from arame.arguments import ArgumentChecks
from arame.bound_task_methods import BoundTaskMethods, StateWriter
from arame.celery_options import CHUNKS
from arame.errors import ConfigurationError, NotSupportedError
from arame.message import TaskMessage, new_task_id
from arame.request import enter_request, run_with_request
from arame.task_options import (
    TaskOptions,
    check_priority,
    due_time,
    expiry_time,
    task_options,
)

if TYPE_CHECKING:
    from arame.canvas.nodes import Canvas, Signature
    from arame.extensions import Extensions
    from arame.results import AsyncResult

__all__ = ["P", "R", "Sender", "StateWriter", "Task", "TaskOptions", "check_priority", "task_options"]

P = ParamSpec("P")
R = TypeVar("R")


class Sender(Protocol):
    """What a task needs from its app to publish itself and to read and write its rows."""

    default_queue: str
    extensions: Extensions  #: the features' hooks, around each run too

    def send(self, message: TaskMessage) -> AsyncResult: ...

    def send_many(self, messages: Sequence[TaskMessage]) -> list[AsyncResult]: ...

    def send_once(self, message: TaskMessage, key: str, seconds: float) -> AsyncResult: ...

    def task_signature(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, immutable: bool = False
    ) -> Signature:
        """A workflow step calling the task ``name`` (``task.s()``, ``task.si()``)."""

    def send_linked(
        self, task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any] | None, **options: Any
    ) -> AsyncResult:
        """Publish a call with callbacks (``link``, ``link_error`` among ``options``): as a workflow."""

    def AsyncResult(self, task_id: str) -> AsyncResult: ...  # noqa: N802 - Celery's name

    @property
    def results(self) -> StateWriter: ...


class Task(ArgumentChecks, BoundTaskMethods, Generic[P, R]):
    """A function that can run here (``task(...)``) or in a worker (``task.delay(...)``).

    Args:
        app: the app that publishes it.
        fn: the function.
        options: routing, retry and limit options.
    """

    app: Sender
    fn: Callable[P, R]

    def __init__(self, app: Sender, fn: Callable[P, R], options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.options = options
        self.name = options.name
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here, in this process, like a plain call."""
        if self.options.bind:
            return self.fn(self, *args, **kwargs)  # type: ignore[arg-type]
        return self.fn(*args, **kwargs)

    def run_message(self, message: TaskMessage, worker: str) -> Any:
        """Run the function for a delivery (the worker's one call into it).

        ``self.request`` describes ``message`` meanwhile; with ``ignore_result`` the value is
        dropped, so the row records the state only.
        """
        if self.options.bind:
            value = run_with_request(message, worker, self.fn, self, *message.args, **message.kwargs)
        else:
            value = run_with_request(message, worker, self.fn, *message.args, **message.kwargs)
        if inspect.iscoroutine(value):  # an async def task: runs on the process's event loop
            value = self._run_coroutine(message, worker, value)
        return None if self.options.ignore_result else value

    def _run_coroutine(self, message: TaskMessage, worker: str, coroutine: Any) -> Any:
        watched = self.options.time_limit is not None or self.options.soft_time_limit is not None
        # The coroutine's context is copied when the loop wraps it: give it this request.
        return run_with_request(message, worker, run_coroutine, coroutine, watched=watched)

    def start_message(self, message: TaskMessage, worker: str) -> Any:
        """The coroutine of an ``async def`` task for a delivery, to await in this asyncio task.

        The asyncio pool calls it inside the asyncio task that awaits it: ``self.request``
        describes ``message`` for the rest of that task (each asyncio task has its own context).
        """
        enter_request(message, worker)
        if self.options.bind:
            return self.fn(self, *message.args, **message.kwargs)  # type: ignore[arg-type]
        return self.fn(*message.args, **message.kwargs)

    async def adelay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult:
        """``delay`` for async code: publishes on a thread, so the event loop is never blocked."""
        return await asyncio.to_thread(self.apply_async, args, kwargs)

    async def aapply_async(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """``apply_async`` for async code: same arguments, run on a thread."""
        return await asyncio.to_thread(functools.partial(self.apply_async, *args, **kwargs))

    @property
    def queue(self) -> str:
        """The queue this task is published to unless a call says otherwise."""
        return self.options.queue or self.app.default_queue

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult:
        """Publish a call with these arguments; return at once with a handle on its result."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: datetime | None = None,
        expires: float | timedelta | datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        dedup_key: str | None = None,
        dedup_for: float = 0.0,
        link: Canvas | None = None,
        link_error: Canvas | None = None,
    ) -> AsyncResult:
        """Publish a call with options; return a handle on its result.

        Args:
            args: positional arguments.
            kwargs: keyword arguments.
            countdown: seconds from now before it may run.
            eta: an aware datetime before which it must not run.
            expires: seconds from now, a timedelta, or an aware datetime after which it must
                not start; it then reads REVOKED.
            queue: overrides the task's queue.
            priority: 0 (lowest) .. 9 (highest); overrides the task's priority.
            task_id: the id to use instead of a fresh one.
            dedup_key: while a task published with this key is unfinished, and for ``dedup_for``
                seconds after it was published, return its handle instead of publishing again.
            dedup_for: the window in seconds (see ``dedup_key``).
            link: a signature (or workflow) run with the result once it succeeds.
            link_error: a signature run with the task's id if it fails.

        Raises:
            TypeError: the arguments do not fit the function's signature.
            ConfigurationError: an option is invalid (a naive datetime, a priority out of range).
            PublishError: the broker did not store the message.
        """
        self.check_arguments(args, kwargs)
        check_priority(priority)
        if link is not None or link_error is not None:  # a workflow: see arame/canvas
            options: dict[str, Any] = {"countdown": countdown, "eta": eta, "expires": expires, "queue": queue}
            options |= {"dedup_key": dedup_key} if dedup_key is not None else {}  # refused, not ignored
            options |= {"link": link, "link_error": link_error, "priority": priority, "task_id": task_id}
            return self.app.send_linked(self, args, kwargs, **options)
        message = TaskMessage(
            id=task_id or new_task_id(),
            task=self.name,
            args=tuple(args),
            kwargs=dict(kwargs or {}),
            queue=queue or self.queue,
            eta=due_time(countdown, eta),
            expires=expiry_time(expires),
            priority=self.options.priority if priority is None else priority,
        )
        if dedup_key is not None:
            return self.app.send_once(message, dedup_key, dedup_for)
        return self.app.send(message)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature of this call for workflows (``add.s(2) | mul.s(4)``); see docs/workflows.md."""
        return self.app.task_signature(self.name, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: it never receives an upstream result."""
        return self.app.task_signature(self.name, args, kwargs, immutable=True)

    def delay_on_commit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Publish this call once the caller's database transaction commits; never if it rolls back."""
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(
        self, args: tuple[Any, ...] | list[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> None:
        """``apply_async`` once the caller's database transaction commits; never if it rolls back.

        Raises:
            ConfigurationError: the app has no ``on_commit`` hook (``arame.django`` installs one).
        """
        on_commit = getattr(self.app, "on_commit", None)
        if on_commit is None:
            raise ConfigurationError(
                f"task {self.name!r}: delay_on_commit needs an app with an on_commit hook "
                "(add 'arame.django' to INSTALLED_APPS, or App(on_commit=...))"
            )
        on_commit(lambda: self.apply_async(args, kwargs, **options))

    @property
    def chunks(self) -> NoReturn:
        """Celery's ``task.chunks``: not offered; the error names ``map`` and ``group``."""
        raise NotSupportedError(CHUNKS)

    def map(
        self,
        arguments: Iterable[Sequence[Any]],
        *,
        countdown: float | None = None,
        expires: float | timedelta | datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> list[AsyncResult]:
        """Publish one call per item of ``arguments`` (each a tuple of positional arguments) at once.

        Far faster than ``delay`` in a loop: the PENDING rows go in one transaction and, on
        RabbitMQ, the messages in another; ``PublishError`` means none of them was published.

        Returns:
            A handle per call, in order.

        Raises:
            TypeError: the arguments of one call do not fit the function's signature.
            ConfigurationError: an option is invalid.
            PublishError: the broker did not store them all; their rows are removed again.
        """
        check_priority(priority)
        not_before, expiry = due_time(countdown, None), expiry_time(expires)
        arguments = list(arguments)
        for args in arguments:
            self.check_arguments(args, None)
        messages = [
            TaskMessage(
                id=new_task_id(),
                task=self.name,
                args=tuple(args),
                queue=queue or self.queue,
                eta=not_before,
                expires=expiry,
                priority=self.options.priority if priority is None else priority,
            )
            for args in arguments
        ]
        return self.app.send_many(messages)

    # Last in the class: below this line the name means the method, not the results type.
    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        """A handle on a result of this task (or of any id)."""
        return self.app.AsyncResult(task_id)
