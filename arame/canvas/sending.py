"""Publishing a workflow: its rows and joins in one transaction, then its first tasks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from arame.canvas.nodes import Canvas, Chain, Chord, Group, Signature
from arame.canvas.plan import build_plan
from arame.coordination.join_plans import forget_plan, waits_writer, write_plan
from arame.errors import ConfigurationError, PublishError, ResultStoreError
from arame.outbox import CallerTransaction, current
from arame.producers import Producer
from arame.results import AsyncResult, ResultStore
from arame.results.group_result import GroupResult
from arame.task import Task

if TYPE_CHECKING:
    from arame.app import App

logger = logging.getLogger(__name__)


class CanvasApp(Protocol):
    """What publishing a workflow needs from the app."""

    default_queue: str
    immediate: bool
    tasks: dict[str, Task[Any, Any]]

    @property
    def results(self) -> ResultStore: ...

    @property
    def producer(self) -> Producer: ...


def send_canvas(app: App, canvas: Canvas) -> Any:
    """Publish a prepared workflow (chain, group, chord); inside a caller's transaction, through
    its outbox.

    Raises:
        ConfigurationError: in immediate mode, which does not run workflows.
    """
    if app.immediate:
        raise ConfigurationError("workflows (chain, group, chord) do not run in immediate mode")
    return publish_canvas(app, canvas, current(app))


def publish_canvas(app: CanvasApp, canvas: Canvas, caller: CallerTransaction | None = None) -> Any:
    """Write a prepared workflow's rows and joins, publish its first tasks, and return its handle.

    With ``caller`` (the outbox), the rows and joins are written in the caller's transaction
    and the first tasks published after its commit: all of the workflow or none of it.

    Raises:
        ResultStoreError: the rows could not be written; nothing was published.
        PublishError: the broker did not store the first tasks; the rows are removed again.
    """

    def route(name: str) -> tuple[str, int | None]:
        task = app.tasks.get(name)
        return (task.queue, task.options.priority) if task else (app.default_queue, None)

    plan = build_plan(canvas, route)
    if caller is not None:
        caller.add_plan(plan.roots, waits_writer(app.results, plan.waits))
        return handle(canvas, app.results)
    write_plan(app.results, plan.roots, plan.waits)
    try:
        app.producer.publish_many(plan.roots)
    except PublishError:
        try:
            forget_plan(app.results, [m.id for m in plan.roots] + [w.message.id for w in plan.waits])
        except ResultStoreError:
            logger.warning("could not remove the rows of an unpublished workflow")
        raise
    return handle(canvas, app.results)


def handle(canvas: Canvas, store: ResultStore) -> Any:
    """The handle on a prepared workflow's outcome: its last task's, or a group's results."""
    if isinstance(canvas, Signature):
        assert canvas.id is not None
        return AsyncResult(canvas.id, store)
    if isinstance(canvas, Chain):
        return handle(canvas.tasks[-1], store)
    if isinstance(canvas, Group):
        assert canvas.id is not None
        return GroupResult(canvas.id, [handle(member, store) for member in canvas.tasks])
    if isinstance(canvas, Chord) and canvas.body is not None:
        return handle(canvas.body, store)
    raise TypeError(f"not a workflow: {canvas!r}")
