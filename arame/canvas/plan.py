"""A workflow flattened: the tasks to publish now, and the steps that wait on other tasks.

Every task of a prepared workflow becomes one message. Those that wait on nothing are published
at once; each other one becomes a :class:`Wait` (one ``arame_joins`` row): a chain step waits on
the step before it, a chord's body on the last task of every member, an errback on the task it
guards. A task's message lists the steps waiting on it (``TaskMessage.joins``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from arame.canvas.nodes import Canvas, Chain, Chord, Group, Signature
from arame.message import TaskMessage

#: What a waiting step receives: the one upstream result, their list, or the failed task's id.
ONE, ALL, ERROR = "one", "all", "error"

#: A task name -> its default queue and priority.
Route = Callable[[str], tuple[str, int | None]]


@dataclass(frozen=True, slots=True)
class Wait:
    """A step that runs once the tasks it waits on have finished.

    Attributes:
        message: its message, without the upstream results (prepended when it fires).
        members: the ids it waits on.
        mode: ``one``, ``all`` or ``error``.
        immutable: it receives no upstream result.
        countdown: seconds between firing and running, if any.
    """

    message: TaskMessage
    members: tuple[str, ...]
    mode: str
    immutable: bool
    countdown: float | None

    @property
    def placeholder(self) -> bool:
        """Whether it gets a PENDING row (without a message) at once: not an errback, which may never run."""
        return self.mode != ERROR


@dataclass(slots=True)
class Plan:
    """The messages to publish now and the steps that wait."""

    roots: list[TaskMessage] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _After:
    members: tuple[str, ...]
    mode: str


def build_plan(canvas: Canvas, route: Route) -> Plan:
    """Flatten a prepared workflow (every task has an id) into a :class:`Plan`."""
    placed: list[tuple[Signature, _After | None]] = []
    followers: dict[str, list[str]] = {}

    def place(node: Canvas, after: _After | None) -> tuple[tuple[str, ...], str]:
        """Place ``node`` after ``after``; return the ids its result comes from, and its shape."""
        if isinstance(node, Signature):
            task_id = _id_of(node)
            placed.append((node, after))
            for member in after.members if after else ():
                followers.setdefault(member, []).append(task_id)
            for callback in node.callbacks:
                place(callback, _After((task_id,), ONE))
            for errback in node.errbacks:
                place(errback, _After((task_id,), ERROR))
            return (task_id,), ONE
        if isinstance(node, Chain):
            ids: tuple[str, ...] = ()
            shape = ONE
            for step in node.tasks:
                ids, shape = place(step, after)
                after = _After(ids, shape)
            return ids, shape
        if isinstance(node, Group):
            tails = tuple(i for member in node.tasks for i in place(member, after)[0])
            return tails, ALL
        if isinstance(node, Chord) and node.body is not None:
            tails, _ = place(node.header, after)
            return place(node.body, _After(tails, ALL))
        raise TypeError(f"not a workflow: {node!r}")

    place(canvas, None)
    plan = Plan()
    now = time.time()
    for signature, after in placed:
        queue, priority = route(signature.task)
        countdown = signature.options.get("countdown")
        message = TaskMessage(
            id=_id_of(signature),
            task=signature.task,
            args=signature.args,
            kwargs=signature.kwargs,
            queue=signature.options.get("queue") or queue,
            priority=signature.options.get("priority", priority),
            joins=tuple(followers.get(_id_of(signature), ())),
            created=now,
        )
        if after is not None and after.members:
            plan.waits.append(Wait(message, after.members, after.mode, signature.immutable, countdown))
            continue
        if after is not None and not signature.immutable:  # a chord over an empty group: Celery passes []
            message = replace(message, args=([], *message.args))
        eta = None if countdown is None else now + float(countdown)
        plan.roots.append(replace(message, eta=eta))
    return plan


def _id_of(signature: Signature) -> str:
    task_id = signature.id
    if task_id is None:
        raise ValueError(f"{signature!r} has no id: plan a prepared workflow")
    return task_id
