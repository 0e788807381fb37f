"""One ``async def`` task on the asyncio pool's loop: its call, its soft limit, its outcome; and
what the pool calls on its consumer (``PoolCalls``).

``aexecute`` is ``execute`` for a coroutine awaited in an asyncio task of its own. A soft time
limit cancels that asyncio task, and ``guarded`` turns the cancellation into
``SoftTimeLimitExceeded`` at the await point where the coroutine is suspended, so the task may
catch it and clean up as a sync task does. Anything else (a hard limit, a revoke) cancels it
plainly: the coroutine sees ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arame.consumers.execute import expired, raised, returned
from arame.errors import SoftTimeLimitExceeded
from arame.message import TaskMessage
from arame.states import Outcome
from arame.task import Task
from arame.transport import Delivery

if TYPE_CHECKING:
    from arame.extensions import Extensions

Held = tuple[TaskMessage, Delivery]


@dataclass(slots=True, eq=False)
class AsyncRun:
    """A coroutine the pool is running, and what it needs to stop it.

    Attributes:
        message: the task message.
        delivery: the delivery that carried it.
        began: ``perf_counter`` at its start.
        task: the asyncio task awaiting it.
        timers: the loop's timers of its soft and hard limits.
        soft: a soft limit cancelled it and the cancellation has not reached it yet.
        ended: its outcome was handed on (by the coroutine, or at the hard limit, or at a revoke).
    """

    message: TaskMessage
    delivery: Delivery
    began: float
    task: asyncio.Task[None] | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    soft: bool = False
    ended: bool = False

    def cancel(self, soft: bool = False) -> None:
        """Cancel the coroutine at its await point; ``soft``: as ``SoftTimeLimitExceeded``."""
        if self.task is not None and not self.task.done():
            self.soft = soft
            self.task.cancel("soft time limit" if soft else None)

    def translate(self, exc: BaseException) -> BaseException:
        """What the coroutine sees of an exception thrown into its asyncio task."""
        if self.soft and isinstance(exc, asyncio.CancelledError):
            self.soft = False
            if self.task is not None:
                self.task.uncancel()  # the cancellation is spent: it became this exception
            return SoftTimeLimitExceeded("the task ran past its soft time limit")
        return exc


@types.coroutine
def guarded(coroutine: Coroutine[Any, Any, Any], run: AsyncRun) -> Generator[Any, Any, Any]:
    """``await coroutine`` as ``yield from`` would, except what ``run.translate`` changes."""
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            yielded = coroutine.send(sent) if thrown is None else coroutine.throw(thrown)
        except StopIteration as stop:
            return stop.value
        sent, thrown = None, None
        try:
            sent = yield yielded
        except BaseException as exc:  # noqa: BLE001 - thrown into the task: passed on to the coroutine
            thrown = run.translate(exc)


async def aexecute(
    task: Task[Any, Any], run: AsyncRun, worker: str, extensions: Extensions | None = None
) -> Outcome:
    """Await ``task`` as ``run.message`` asks and say how it ended (see ``execute``)."""
    message = run.message
    if message.expires is not None and time.time() > message.expires:
        return expired(message, worker)
    started = time.time()
    try:
        hooks = task.app.extensions if extensions is None else extensions
        with hooks.around_execution(task, message):  # the features' (a trace's span, metrics)
            value = await guarded(task.start_message(message, worker), run)
    except BaseException as exc:  # noqa: BLE001 - a task's exception is its outcome, whatever it is
        return raised(task, message, worker, started, exc)
    return returned(message, worker, started, None if task.options.ignore_result else value)


@dataclass(frozen=True, slots=True)
class PoolCalls:
    """What the pool calls on its consumer (each may block: the pool calls them off the loop).

    Attributes:
        admit: keeps the tasks of a batch that may run now (see ``Consumer._admit``).
        claim: marks a batch started; returns the ids that may run.
        run: runs one claimed sync task (on a thread) and hands on its outcome.
        skip: hands back a task that must not run (its row says so).
        end: hands on the outcome of a task and how long it ran.
        fail: a task whose run broke past every handler is failed with this reason.
        settle: hands a delivery back (``False``) without running it.
        terminated: which of these running tasks were revoked with ``terminate=True``.
    """

    admit: Callable[[list[Held]], list[Held]]
    claim: Callable[[list[Held]], set[str]]
    run: Callable[[TaskMessage, Delivery], None]
    skip: Callable[[TaskMessage, Delivery], None]
    end: Callable[[TaskMessage, Delivery, Outcome, float], None]
    fail: Callable[[TaskMessage, Delivery, str], None]
    settle: Callable[[Delivery, bool], None]
    terminated: Callable[[list[str]], set[str]]
