"""Extensions: the points where a feature acts on a task's way, and the list an App calls them in.

Each feature (workflows, flow control, pauses and the worker registry, metrics, traces) is one
``Extension`` in its own package; the core calls these hooks and imports no feature. The points,
in a task's order:

- ``on_declare``: a task was declared (its options are checked);
- ``on_publish``: around a publish, before the rows are written (routes, trace context);
- ``in_row_transaction``: what is written with the ``PENDING`` rows, in their transaction;
- ``running``: around a worker's life, in its main process (registration, metrics server);
- ``process_ended``: a child of the process pool has ended (metrics drop its live gauges);
- ``steering``: per consumer, which queues it takes from (pauses, fair sub-queues);
- ``before_claim``: which tasks of a fetched batch may start now (rate and concurrency limits);
- ``around_execution`` and ``after_execution``: around a task's run, and its outcome;
- ``on_record``: inside the outcome's transaction (workflow joins advance);
- ``after_ack``: the broker has forgotten the messages.

A hook an extension does not override costs nothing: ``Extensions`` keeps, per hook, only the
extensions that override it, and the core skips a hook that none does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterator

    import sqlalchemy as sa

    from arame.message import TaskMessage
    from arame.states import Outcome
    from arame.task import Task
    from arame.transport import BrokerSpec, Delivery, Subscriber

Held = tuple["TaskMessage", "Delivery"]
RowWriter = Callable[["sa.Connection"], None]
E = TypeVar("E", bound="Extension")


class Steering(Protocol):
    """A consumer's view of which queues to take from, read off its draining thread."""

    def apply(self, subscriber: Subscriber) -> None:
        """Set the subscriber's paused or followed queues (called before every fetch)."""

    def stop(self) -> None:
        """The consumer has stopped."""


class Deferral(Protocol):
    """How ``before_claim`` hands back a task that may not start yet."""

    def __call__(self, waiting: Sequence[tuple[Held, float]]) -> None:
        """Publish each message again to run at its epoch second, then acknowledge its delivery."""


class Extension:
    """One feature's hooks into the core; each does nothing until a subclass overrides it."""

    def on_declare(self, task: Task[Any, Any]) -> None:
        """A task was declared: raise ``ConfigurationError`` if its options do not fit."""

    def on_publish(self, messages: Sequence[TaskMessage]) -> AbstractContextManager[Sequence[TaskMessage]]:
        """Around a publish: yield the messages to write and publish (copies may carry more).

        Entered before the ``PENDING`` rows are written, left once the broker has the messages
        (or refused them: the exception passes through).
        """
        return nullcontext(messages)

    def in_row_transaction(self, messages: Sequence[TaskMessage]) -> RowWriter | None:
        """What to write with these messages' ``PENDING`` rows, in their transaction (``None``: nothing)."""
        return None

    def running(self, worker: WorkerView) -> AbstractContextManager[None]:
        """Around a worker's life, in its main process (the supervisor of a process pool)."""
        return nullcontext()

    def process_ended(self, pid: int) -> None:
        """A child of the process pool has ended (called in the supervisor, which replaces it)."""

    def steering(self, spec: BrokerSpec, queues: Sequence[str]) -> Steering | None:
        """A consumer of ``queues`` starts: how it chooses among them (``None``: it takes them all)."""
        return None

    def before_claim(self, batch: list[Held], defer: Deferral) -> list[Held]:
        """The tasks of a fetched batch that may start now; the others go to ``defer``."""
        return batch

    def around_execution(self, task: Task[Any, Any], message: TaskMessage) -> AbstractContextManager[None]:
        """Around the task's own code (the task's exception passes through it)."""
        return nullcontext()

    def after_execution(self, message: TaskMessage, outcome: Outcome, seconds: float) -> None:
        """A task ran for ``seconds`` (or was refused as expired) and ended with ``outcome``."""

    def on_record(
        self, conn: sa.Connection, outcomes: Sequence[Outcome], write: Callable[[], None]
    ) -> Sequence[TaskMessage]:
        """Inside the outcomes' transaction: call ``write()`` (the rows) and act around it.

        Called only for a batch ``records`` says it acts on. Returns messages to publish once
        the transaction has committed.
        """
        write()
        return ()

    def records(self, outcomes: Sequence[Outcome]) -> bool:
        """Whether ``on_record`` acts on this batch (else it is not called: the fast path stays)."""
        return False

    def after_ack(self, messages: Sequence[TaskMessage]) -> None:
        """The broker has forgotten these messages: their outcomes are committed and acknowledged."""


class WorkerView(Protocol):
    """What ``Extension.running`` sees of the worker."""

    queues: Sequence[str]
    pool: str
    concurrency: int

    def child_pids(self) -> list[int]:
        """The pids of the pool's children (empty but in the process pool)."""


HOOKS = (
    "on_declare", "on_publish", "in_row_transaction", "running", "process_ended", "steering",
    "before_claim", "around_execution", "after_execution", "on_record", "after_ack",
)  # fmt: skip


class Extensions:
    """The extensions of an App, in order, and per hook the ones that override it.

    Entered hooks nest in list order (the first is outermost); ``before_claim`` filters in
    list order.
    """

    def __init__(self, extensions: Sequence[Extension] = ()) -> None:
        self.all = tuple(extensions)
        self._by_hook = {hook: tuple(e for e in self.all if _overrides(e, hook)) for hook in HOOKS}

    def using(self, hook: str) -> tuple[Extension, ...]:
        """The extensions that override ``hook``."""
        return self._by_hook[hook]

    def of_type(self, kind: type[E]) -> E | None:
        """The extension of that class, if the App has one."""
        return next((e for e in self.all if isinstance(e, kind)), None)

    def on_declare(self, task: Task[Any, Any]) -> None:
        for extension in self._by_hook["on_declare"]:
            extension.on_declare(task)

    @contextmanager
    def _nested_publish(self, messages: Sequence[TaskMessage]) -> Iterator[Sequence[TaskMessage]]:
        with ExitStack() as stack:
            for extension in self._by_hook["on_publish"]:
                messages = stack.enter_context(extension.on_publish(messages))
            yield messages

    def on_publish(self, messages: Sequence[TaskMessage]) -> AbstractContextManager[Sequence[TaskMessage]]:
        if not self._by_hook["on_publish"]:
            return nullcontext(messages)  # every publish comes here: no generator frame when unused
        return self._nested_publish(messages)

    def in_row_transaction(self, messages: Sequence[TaskMessage]) -> RowWriter | None:
        writers = [w for e in self._by_hook["in_row_transaction"] if (w := e.in_row_transaction(messages))]
        if not writers:
            return None
        if len(writers) == 1:
            return writers[0]

        def write_all(conn: sa.Connection) -> None:
            for write in writers:
                write(conn)

        return write_all

    @contextmanager
    def running(self, worker: WorkerView) -> Iterator[None]:
        with ExitStack() as stack:
            for extension in self._by_hook["running"]:
                stack.enter_context(extension.running(worker))
            yield

    def process_ended(self, pid: int) -> None:
        for extension in self._by_hook["process_ended"]:
            extension.process_ended(pid)

    def steering(self, spec: BrokerSpec, queues: Sequence[str]) -> list[Steering]:
        """The consumer's steerings, applied in list order (a later one sees what the earlier set)."""
        return [s for e in self._by_hook["steering"] if (s := e.steering(spec, queues)) is not None]

    def before_claim(self, batch: list[Held], defer: Deferral) -> list[Held]:
        for extension in self._by_hook["before_claim"]:
            if not batch:
                break
            batch = extension.before_claim(batch, defer)
        return batch

    @contextmanager
    def _nested_execution(self, task: Task[Any, Any], message: TaskMessage) -> Iterator[None]:
        with ExitStack() as stack:
            for extension in self._by_hook["around_execution"]:
                stack.enter_context(extension.around_execution(task, message))
            yield

    def around_execution(self, task: Task[Any, Any], message: TaskMessage) -> AbstractContextManager[None]:
        hooked = self._by_hook["around_execution"]
        if not hooked:
            return nullcontext()
        if len(hooked) == 1:
            return hooked[0].around_execution(task, message)
        return self._nested_execution(task, message)

    def after_execution(self, message: TaskMessage, outcome: Outcome, seconds: float) -> None:
        for extension in self._by_hook["after_execution"]:
            extension.after_execution(message, outcome, seconds)

    def recording(self, outcomes: Sequence[Outcome]) -> tuple[Extension, ...]:
        """The extensions whose ``on_record`` acts on this batch."""
        return tuple(e for e in self._by_hook["on_record"] if e.records(outcomes))

    def after_ack(self, messages: Sequence[TaskMessage]) -> None:
        for extension in self._by_hook["after_ack"]:
            extension.after_ack(messages)


def record_with(
    extensions: Sequence[Extension],
    conn: sa.Connection,
    outcomes: Sequence[Outcome],
    write: Callable[[], None],
) -> list[TaskMessage]:
    """Run ``write`` inside every extension's ``on_record`` (the first outermost); collect what to publish."""
    if not extensions:
        write()
        return []
    published: list[TaskMessage] = []
    first, rest = extensions[0], extensions[1:]

    def inner() -> None:
        published.extend(record_with(rest, conn, outcomes, write))

    published[:0] = first.on_record(conn, outcomes, inner)
    return published


def _overrides(extension: Extension, hook: str) -> bool:
    return getattr(type(extension), hook) is not getattr(Extension, hook)
