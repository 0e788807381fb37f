"""Task: a plain function declared as a task, with its options."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar

from arame.errors import ConfigurationError
from arame.message import TaskMessage, new_task_id

if TYPE_CHECKING:
    from arame.results import AsyncResult

P = ParamSpec("P")
R = TypeVar("R")

MIN_PRIORITY, MAX_PRIORITY = 0, 9


class Sender(Protocol):
    """What a task needs from its app to publish itself."""

    default_queue: str

    def send(self, message: TaskMessage) -> AsyncResult: ...

    def send_many(self, messages: Sequence[TaskMessage]) -> list[AsyncResult]: ...


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """How a task is routed, retried and limited. See DESIGN.md §1 for each option."""

    name: str
    queue: str | None = None
    priority: int | None = None
    max_retries: int = 3
    retry_delay: float = 1.0
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600.0
    retry_jitter: bool = True
    autoretry_for: tuple[type[BaseException], ...] = field(default_factory=tuple)
    time_limit: float | None = None
    soft_time_limit: float | None = None

    def __post_init__(self) -> None:
        check_priority(self.priority)
        if self.max_retries < 0:
            raise ConfigurationError(f"task {self.name!r}: max_retries must be >= 0")
        for limit in (self.time_limit, self.soft_time_limit):
            if limit is not None and limit <= 0:
                raise ConfigurationError(f"task {self.name!r}: time limits must be positive")


class Task(Generic[P, R]):
    """A function that can run here (``task(...)``) or in a worker (``task.delay(...)``).

    Args:
        app: the app that publishes it.
        fn: the function.
        options: routing, retry and limit options.
    """

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
        return self.fn(*args, **kwargs)

    @property
    def queue(self) -> str:
        """The queue this task is published to unless a call says otherwise."""
        return self.options.queue or self.app.default_queue

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """The function's signature, used to refuse arguments that do not fit it."""
        return inspect.signature(self.fn)

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

        Raises:
            ConfigurationError: an option is invalid (a naive datetime, a priority out of range).
            PublishError: the broker did not store the message.
        """
        check_priority(priority)
        message = TaskMessage(
            id=task_id or new_task_id(),
            task=self.name,
            args=tuple(args),
            kwargs=dict(kwargs or {}),
            queue=queue or self.queue,
            eta=_not_before(countdown, eta),
            expires=_expiry(expires),
            priority=self.options.priority if priority is None else priority,
        )
        return self.app.send(message)

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
            ConfigurationError: an option is invalid.
            PublishError: the broker did not store them all; their rows are removed again.
        """
        check_priority(priority)
        not_before, expiry = _not_before(countdown, None), _expiry(expires)
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


def check_priority(priority: int | None) -> None:
    """Refuse a priority outside arame's one scale, 0 (lowest) .. 9 (highest)."""
    if priority is not None and not (MIN_PRIORITY <= priority <= MAX_PRIORITY):
        raise ConfigurationError(f"priority must be between 0 (lowest) and 9 (highest), not {priority}")


def _not_before(countdown: float | None, eta: datetime | None) -> float | None:
    if countdown is not None and eta is not None:
        raise ConfigurationError("give countdown or eta, not both")
    if eta is not None:
        return _aware(eta, "eta").timestamp()
    if countdown is not None:
        if countdown < 0:
            raise ConfigurationError(f"countdown must be >= 0 seconds, not {countdown}")
        return datetime.now().timestamp() + countdown
    return None


def _expiry(expires: float | timedelta | datetime | None) -> float | None:
    if expires is None:
        return None
    if isinstance(expires, datetime):
        return _aware(expires, "expires").timestamp()
    seconds = expires.total_seconds() if isinstance(expires, timedelta) else float(expires)
    return datetime.now().timestamp() + seconds


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigurationError(
            f"{what} must be an aware datetime (with tzinfo, e.g. datetime.now(timezone.utc)); "
            "a naive one is ambiguous"
        )
    return moment
