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
from datetime import datetime, timedelta
from typing import Any

from arame.canvas.nodes import Canvas, Chain, Chord, Group, Signature
from arame.message import TaskMessage
from arame.publish_options import expiry_time

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
        expires_in: seconds from firing after which it must not start, if any (an ``expires``
            given as a moment is in the message, as is an ``eta``).
    """

    message: TaskMessage
    members: tuple[str, ...]
    mode: str
    immutable: bool
    countdown: float | None
    expires_in: float | None = None

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
        timing = _Timing.of(signature.options)
        message = TaskMessage(
            id=_id_of(signature),
            task=signature.task,
            args=signature.args,
            kwargs=signature.kwargs,
            queue=signature.options.get("queue") or queue,
            priority=signature.options.get("priority", priority),
            joins=tuple(followers.get(_id_of(signature), ())),
            created=now,
            eta=timing.eta,
            expires=timing.expires,
        )
        if after is not None and after.members:
            immutable = signature.immutable
            plan.waits.append(
                Wait(message, after.members, after.mode, immutable, timing.countdown, timing.expires_in)
            )
            continue
        if after is not None and not signature.immutable:  # a chord over an empty group: Celery passes []
            message = replace(message, args=([], *message.args))
        plan.roots.append(timing.released(message, now))
    return plan


@dataclass(frozen=True, slots=True)
class _Timing:
    """A signature's ``countdown`` / ``eta`` / ``expires``: moments as epoch seconds, the rest
    as seconds counted from the moment the task is published (at once, or when its step fires)."""

    countdown: float | None
    eta: float | None
    expires: float | None
    expires_in: float | None

    @classmethod
    def of(cls, options: dict[str, Any]) -> _Timing:
        countdown, eta, expires = options.get("countdown"), options.get("eta"), options.get("expires")
        at = isinstance(expires, datetime)
        expires_in = None
        if expires is not None and not at:
            expires_in = expires.total_seconds() if isinstance(expires, timedelta) else float(expires)
        return cls(
            None if countdown is None else float(countdown),
            None if eta is None else eta.timestamp(),
            expiry_time(expires) if at else None,
            expires_in,
        )

    def released(self, message: TaskMessage, now: float) -> TaskMessage:
        """``message`` published at ``now``: its countdown and relative expiry counted from then."""
        eta = message.eta if self.countdown is None else now + self.countdown
        expires = message.expires if self.expires_in is None else now + self.expires_in
        return replace(message, eta=eta, expires=expires)


def _id_of(signature: Signature) -> str:
    task_id = signature.id
    if task_id is None:
        raise ValueError(f"{signature!r} has no id: plan a prepared workflow")
    return task_id
