"""Task: a plain function declared as a task, with its options."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
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
    """How a task is routed, retried and limited.

    Attributes:
        name: the name workers look the task up by.
        queue: its queue (default: the app's default queue).
        priority: 0 (lowest) .. 9 (highest).
        max_retries: attempts after the first one.
        retry_delay: seconds between attempts without backoff.
        retry_backoff: ``True`` doubles from 1 s; a number doubles from that many seconds.
        retry_backoff_max: the longest backoff, in seconds.
        retry_jitter: a random delay between 0 and the computed one.
        autoretry_for: exception types that retry the task instead of failing it.
        time_limit: seconds after which the task is stopped (hard).
        soft_time_limit: seconds after which ``SoftTimeLimitExceeded`` is raised inside it.
    """

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


def task_options(name: str, options: dict[str, Any]) -> TaskOptions:
    """Build a task's options from ``@app.task(...)`` keywords.

    Raises:
        ConfigurationError: an option no task has (the message lists the valid ones) or an
            invalid value.
    """
    valid = [option.name for option in fields(TaskOptions)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigurationError(
            f"task {name!r}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid options: {', '.join(valid)}"
        )
    try:
        return TaskOptions(name=name, **options)
    except TypeError as exc:
        raise ConfigurationError(f"task {name!r}: {exc}") from exc


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

    @functools.cached_property
    def _bind(self) -> Callable[..., inspect.BoundArguments] | None:
        # Cached: after the first call this is a plain attribute read on the publish path.
        try:
            return self.signature.bind
        except (TypeError, ValueError):  # a callable Python cannot inspect: nothing to check
            return None

    def check_arguments(self, args: Sequence[Any], kwargs: dict[str, Any] | None) -> None:
        """Refuse arguments the function would refuse, before anything is published.

        Raises:
            TypeError: missing, unexpected or repeated arguments, as a plain call would raise.
        """
        bind = self._bind
        if bind is None:
            return
        try:
            bind(*args, **(kwargs or {}))
        except TypeError as exc:
            raise TypeError(f"{self.name}{self.signature}: {exc}") from None

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
            TypeError: the arguments do not fit the function's signature.
            ConfigurationError: an option is invalid (a naive datetime, a priority out of range).
            PublishError: the broker did not store the message.
        """
        self.check_arguments(args, kwargs)
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
        not_before, expiry = _not_before(countdown, None), _expiry(expires)
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
