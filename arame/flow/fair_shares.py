"""Fair shares as an extension: the calls of a task with a ``fair_key`` take turns per key value.

Each key value has a sub-queue of the task's queue (``arame.subqueues``). A publish routes each
call to its value's sub-queue (``on_publish``) and registers the sub-queue in the transaction that
writes the call's ``PENDING`` row (``in_row_transaction``), so no unfinished task is ever in a
sub-queue the registry lacks (``arame.coordination.fair_queues``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from arame.coordination.fair_queues import FairRegistry, fair_queues_of
from arame.extensions import Extension, RowWriter
from arame.flow.keys import check_key_spec, concurrency_key_of
from arame.flow.option_checks import check_fair_key
from arame.subqueues import MARK, fair_parent, fair_queue

if TYPE_CHECKING:
    import sqlalchemy as sa

    from arame.app import App
    from arame.message import TaskMessage
    from arame.task import Task


class FairShares(Extension):
    """Routes the calls of tasks with a ``fair_key`` to their sub-queues and registers those.

    Also checks, at declaration, that a ``fair_key`` is an argument's name (one of the
    function's) or a callable.

    Args:
        app: the app whose tasks it routes (and whose results database holds the registry).
    """

    def __init__(self, app: App) -> None:
        self._app = app
        self._fair: set[str] = set()  # the names of declared tasks with a fair_key

    def on_declare(self, task: Task[Any, Any]) -> None:
        check_fair_key(task.name, task.options.fair_key)
        check_key_spec(task.name, task.options.fair_key, task.signature_or_none(), "fair_key")
        if task.options.fair_key is not None:
            self._fair.add(task.name)

    def on_publish(self, messages: Sequence[TaskMessage]) -> AbstractContextManager[Sequence[TaskMessage]]:
        if not self._fair:  # every publish comes here: nothing to do in an app without fair keys
            return nullcontext(messages)
        routed = [self._routed(message) for message in messages]
        if all(new is old for new, old in zip(routed, messages, strict=True)):
            return nullcontext(messages)
        return nullcontext(routed)

    def in_row_transaction(self, messages: Sequence[TaskMessage]) -> RowWriter | None:
        if not any(MARK in message.queue for message in messages):  # the cheap test first
            return None
        subqueues = fair_queues_of(messages)
        if not subqueues:
            return None
        registry = FairRegistry.of(self._app.results)
        registry.prepare()  # before the rows' transaction: it may create a table

        def register(conn: sa.Connection) -> None:
            registry.touch(conn, subqueues)

        return register

    def _routed(self, message: TaskMessage) -> TaskMessage:
        """``message`` in its key value's sub-queue (itself without a key, or routed already)."""
        task = self._app.tasks.get(message.task)
        if task is None or task.options.fair_key is None or fair_parent(message.queue) is not None:
            return message
        key = concurrency_key_of(
            task.options.fair_key, task.signature_or_none(), message.args, message.kwargs
        )
        return replace(message, queue=fair_queue(message.queue, key)) if key else message
