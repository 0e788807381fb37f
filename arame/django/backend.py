"""``arame.django.TaskBackend``: Django's task framework on arame's queue and results table.

::

    TASKS = {"default": {"BACKEND": "arame.django.TaskBackend", "QUEUES": ["default", "emails"]}}

Priorities: Django's run from -100 to 100, arame's from 0 to 9. A Django priority ``p`` becomes
``(p + 100) * 10 // 201``: -100..-81 -> 0, ..., -1..19 -> 4 (Django's default 0 lands here),
..., 81..100 -> 9. Higher stays higher; ties within one band run in publish order.

``OPTIONS`` may name another App as ``{"APP": "module.attr"}``; by default the project's
(``arame.django.app``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.module_loading import import_string

from arame import App, states
from arame.django import compat, runner

_STATUS = {
    states.PENDING: "READY",
    states.RETRY: "READY",
    states.STARTED: "RUNNING",
    states.SUCCESS: "SUCCESSFUL",
    states.FAILURE: "FAILED",
    states.REVOKED: "FAILED",
}


def arame_priority(priority: int) -> int:
    """Django's priority (-100..100) on arame's scale (0..9), order kept."""
    return (priority + 100) * 10 // 201


class TaskBackend(compat.BaseTaskBackend):
    """Enqueues Django tasks as arame messages; reads their results from arame's rows."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._app: App | None = None

    @property
    def app(self) -> App:
        """The App that publishes and records this backend's tasks."""
        if self._app is None:
            spec = self.options.get("APP")
            if spec:
                app = import_string(spec)
            else:
                from arame.django.config import project

                app = project.app
            runner.install(app)
            self._app = app
        return self._app

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        """Publish ``task`` with these arguments; return its READY result."""
        self.validate_task(task)
        arame_task = runner.declare(self.app, task)
        result = _new_result(task, self.alias, args, kwargs)
        arame_task.apply_async(
            (result.id, result.args, result.kwargs),
            eta=task.run_after,
            queue=task.queue_name,
            priority=arame_priority(task.priority),
            task_id=result.id,
        )
        object.__setattr__(result, "enqueued_at", timezone.now())
        compat.task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> Any:
        """The result of ``result_id`` as its arame row records it, from any process.

        Raises:
            TaskResultDoesNotExist: no Django task with this id was enqueued.
        """
        row = self.app.AsyncResult(result_id).row
        task = _django_task(row.task_name) if row is not None else None
        if row is None or task is None:
            raise compat.TaskResultDoesNotExist(result_id)
        message_args = getattr(row, "args", None)  # the row carries the message once it has one
        args, kwargs = ([], {})
        if isinstance(message_args, (list, tuple)) and len(message_args) == 3:
            args, kwargs = message_args[1], message_args[2]
        result = compat.TaskResult(
            task=task,
            id=row.id,
            status=compat.TaskResultStatus[_STATUS.get(row.state, "READY")],
            enqueued_at=_aware(row.created_at),
            started_at=_aware(row.started_at),
            finished_at=_aware(row.finished_at) if row.ready else None,
            last_attempted_at=_aware(row.started_at),
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=_errors(row),
            worker_ids=[row.worker] * row.attempts if row.worker else [],
        )
        if row.state == states.SUCCESS:
            object.__setattr__(result, "_return_value", row.result)
        return result


def _new_result(task: Any, alias: str, args: Any, kwargs: Any) -> Any:
    return compat.TaskResult(
        task=task,
        id=_new_id(),
        status=compat.TaskResultStatus.READY,
        enqueued_at=None,
        started_at=None,
        finished_at=None,
        last_attempted_at=None,
        args=list(args),
        kwargs=dict(kwargs),
        backend=alias,
        errors=[],
        worker_ids=[],
    )


def _new_id() -> str:
    return uuid.uuid4().hex


def _django_task(path: str) -> Any:
    try:
        candidate = import_string(path)
    except ImportError:
        return None
    return candidate if isinstance(candidate, compat.DjangoTask) else None


def _errors(row: Any) -> list[Any]:
    if row.state not in (states.FAILURE, states.REVOKED):
        return []
    kind = row.error_type or row.state
    # arame names builtins bare ("ValueError"); Django resolves the path with import_string.
    path = kind if "." in kind else f"builtins.{kind}"
    return [compat.TaskError(exception_class_path=path, traceback=row.traceback or "")]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or timezone.is_aware(moment):
        return moment
    return moment.replace(tzinfo=UTC)  # the results table stores UTC


runner.BACKENDS.append(TaskBackend)  # the runner tells arame's tasks by their backend
