"""Publishing for an App: the PENDING row first, then the broker, and the row removed if that fails."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from arame.errors import PublishError, ResultStoreError, TaskNotRegistered
from arame.immediate import run_here
from arame.message import TaskMessage
from arame.outbox import CallerTransaction, current
from arame.results import AsyncResult
from arame.task import Task, TaskOptions

if TYPE_CHECKING:
    from arame.app import App

logger = logging.getLogger(__name__)


class Reservation(Protocol):
    """A deduplication key, taken in the transaction that writes the task's PENDING row
    (``App.send_once`` builds one; see docs/flow-control.md)."""

    def reserve(self, message: TaskMessage, body: str) -> str:
        """Take the key and write the PENDING row in one transaction, unless another task holds it.

        Returns:
            The id of the task that holds the key: ``message.id``, or another's (publish nothing).
        """

    def reserve_in(self, caller: CallerTransaction, message: TaskMessage, body: str) -> str:
        """``reserve`` in a caller's transaction (the outbox): the key and the rows commit with it."""

    def release(self, task_id: str) -> None:
        """Give the key up: its task's message could not be published (its row is removed)."""


def send(app: App, message: TaskMessage, key: Reservation | None = None) -> AsyncResult:
    """Record ``message`` as PENDING, publish it, and return its handle.

    With a deduplication ``key`` held by another task, nothing is published: that task's handle.
    The extensions' ``on_publish`` may route the message (a fair sub-queue) before its row is
    written.

    Raises:
        ResultStoreError: the PENDING row could not be written; nothing was published.
        PublishError: the broker did not store the message; its row is removed again.
    """
    if app.immediate:
        return run_here(app, message)
    # The features' hooks around a publish (a trace's PRODUCER span, a fair sub-queue...).
    with app.extensions.on_publish((message,)) as (sent,):
        body = sent.to_body()  # encoded once: the row's copy and the broker's are the same text
        caller = current(app)
        if caller is not None and caller.takes([sent]):  # the outbox: published after the commit
            holder = sent.id if key is None else key.reserve_in(caller, sent, body)
            if key is None:
                caller.add([sent], [body])
            return AsyncResult(holder, app.results)
        background = app.background
        if key is None and background is not None and background.takes([sent]):
            background.add([sent], [body])  # published by a thread of this process
            return AsyncResult(sent.id, app.results)
        if key is None:
            app.results.add_pending(sent, body)
        elif (holder := key.reserve(sent, body)) != sent.id:
            return AsyncResult(holder, app.results)
        try:
            app.producer.publish(sent, body)
        except PublishError:
            try:
                app.results.forget_pending(sent.id)
                if key is not None:
                    key.release(sent.id)
            except ResultStoreError:
                logger.warning("could not remove the row of unpublished task %s", sent.id)
            raise
    return AsyncResult(sent.id, app.results)


def send_many(app: App, messages: Sequence[TaskMessage]) -> list[AsyncResult]:
    """Record ``messages`` as PENDING in one transaction, publish them together, return handles.

    Raises:
        ResultStoreError: the PENDING rows could not be written; nothing was published.
        PublishError: the broker did not store them all; their rows are removed again.
    """
    if not messages:
        return []
    if app.immediate:
        return [run_here(app, message) for message in messages]
    # The features' hooks around a publish (a trace's PRODUCER span per message...).
    with app.extensions.on_publish(messages) as sent:
        bodies = [message.to_body() for message in sent]  # encoded once, for the rows and the broker
        caller = current(app)
        if caller is not None and caller.takes(sent):  # the outbox: published after the commit
            caller.add(sent, bodies)
            return [AsyncResult(message.id, app.results) for message in sent]
        background = app.background
        if background is not None and background.takes(sent):
            background.add(sent, bodies)  # published by a thread of this process
            return [AsyncResult(message.id, app.results) for message in sent]
        app.results.add_pending_many(sent, bodies)
        try:
            app.producer.publish_many(sent, bodies)
        except PublishError:
            try:
                app.results.forget_pending_many([message.id for message in sent])
            except ResultStoreError:
                logger.warning("could not remove the rows of %d unpublished tasks", len(sent))
            raise
    return [AsyncResult(message.id, app.results) for message in sent]


def send_task(
    app: App, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
) -> AsyncResult:
    """Publish a task by name, with ``apply_async``'s options (as ``arame send`` does).

    A name this process has not declared is published as it is (a producer-only service
    publishing to workers that know it, as Celery allows); a declared one has its arguments
    checked against its signature.
    """
    task = app.tasks.get(name) or Task(app, _declared_elsewhere, TaskOptions(name=name))
    return task.apply_async(tuple(args), kwargs or {}, **options)


def _declared_elsewhere(*args: Any, **kwargs: Any) -> None:
    """Stands for a task not declared in this process: its worker checks the arguments."""
    raise TaskNotRegistered("a task declared elsewhere")
