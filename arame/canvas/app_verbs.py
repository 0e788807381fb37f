"""The App's workflow verbs: what ``task.s()``, ``link=`` and a workflow's ``apply_async`` call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from arame.canvas.nodes import Canvas, Signature, linked
from arame.canvas.sending import send_canvas

if TYPE_CHECKING:
    from arame.app import App
    from arame.results import AsyncResult
    from arame.task import Task


class WorkflowVerbs:
    """Mixed into ``App``: workflows are a feature of their own, the App only lends its name."""

    def task_signature(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, immutable: bool = False
    ) -> Signature:
        """A workflow step calling the task ``name`` (what ``task.s()`` and ``task.si()`` return)."""
        return Signature(name, args, kwargs, app=_app(self), immutable=immutable)

    def send_linked(
        self, task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any] | None, **options: Any
    ) -> AsyncResult:
        """``task.apply_async(..., link=..., link_error=...)``: the call as a workflow with callbacks."""
        link, link_error = options.pop("link", None), options.pop("link_error", None)
        handle: AsyncResult = linked(task, args, kwargs, link, link_error, **options)
        return handle

    def send_canvas(self, canvas: Canvas) -> Any:
        """Publish a prepared workflow (chain, group, chord); see ``canvas.sending.send_canvas``."""
        return send_canvas(_app(self), canvas)


def _app(verbs: WorkflowVerbs) -> App:
    return cast("App", verbs)  # only App mixes these verbs in
