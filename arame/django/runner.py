"""Running Django ``@task`` functions in an arame worker.

Each Django task is an arame task named by its module path (``shop.tasks.send_report``), so its
row reads naturally in ``arame status`` and ``get_result`` finds the task again from any process.
Workers learn these tasks on demand: a message whose name is the path of a Django task bound to
an arame backend declares it on first sight. Nothing else is imported that way: any other name
stays unknown, as for any app.
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections
from django.utils import timezone
from django.utils.module_loading import import_string

from arame import App, Task
from arame.django import compat


class DjangoTaskRegistry(dict[str, Task[Any, Any]]):
    """An app's task registry that also finds Django tasks by their module path."""

    def __init__(self, app: App) -> None:
        super().__init__(app.tasks)
        self.app = app
        self._declaring: set[str] = set()  # App.task() looks the name up while declaring it

    def get(self, name: str, default: Any = None) -> Any:
        """The task called ``name``; a Django task bound to an arame backend is declared on first use."""
        found = super().get(name)
        if found is None and "." in name and name not in self._declaring:
            self._declaring.add(name)
            try:
                found = self._django_task(name)
            finally:
                self._declaring.discard(name)
        return default if found is None else found

    def _django_task(self, path: str) -> Task[Any, Any] | None:
        try:
            candidate = import_string(path)
        except ImportError:
            return None
        if not is_arame_task(candidate):
            return None
        return declare(self.app, candidate)


#: arame's Django task backend classes (``backend.py`` adds its own when Django loads it).
BACKENDS: list[type] = []


def is_arame_task(candidate: Any) -> bool:
    """Whether ``candidate`` is a Django task whose backend is arame's."""
    if not isinstance(candidate, compat.DjangoTask):
        return False
    return isinstance(compat.task_backends[candidate.backend], tuple(BACKENDS))


def install(app: App) -> None:
    """Let ``app``'s workers find Django tasks by module path."""
    if not isinstance(app.tasks, DjangoTaskRegistry):
        app.tasks = DjangoTaskRegistry(app)


def declare(app: App, django_task: Any) -> Task[Any, Any]:
    """The arame task that runs ``django_task`` (declared on first call)."""
    name = django_task.module_path
    existing = dict.get(app.tasks, name)
    if existing is not None:
        return existing
    return app.task(name=name, queue=django_task.queue_name, max_retries=0)(_runner(name))


def _runner(path: str) -> Callable[[str, list[Any], dict[str, Any]], Any]:
    def run(result_id: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        django_task = import_string(path)
        close_old_connections()  # as a request does: no connection broken since the last task
        try:
            return _run_with_signals(django_task, result_id, args, kwargs)
        finally:
            close_old_connections()

    run.__module__, run.__qualname__ = __name__, f"run[{path}]"
    return run


def _run_with_signals(django_task: Any, result_id: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    now = timezone.now()
    result = compat.TaskResult(
        task=django_task,
        id=result_id,
        status=compat.TaskResultStatus.RUNNING,
        enqueued_at=None,
        started_at=now,
        finished_at=None,
        last_attempted_at=now,
        args=args,
        kwargs=kwargs,
        backend=django_task.backend,
        errors=[],
        worker_ids=[f"{socket.gethostname()}:{os.getpid()}"],
    )
    sender = type(compat.task_backends[django_task.backend])
    compat.task_started.send(sender=sender, task_result=result)
    try:
        if django_task.takes_context:
            value = django_task.call(compat.TaskContext(task_result=result), *args, **kwargs)
        else:
            value = django_task.call(*args, **kwargs)
    except BaseException as exc:
        _finish(result, compat.TaskResultStatus.FAILED, error=exc)
        compat.task_finished.send(sender=sender, task_result=result)
        raise
    _finish(result, compat.TaskResultStatus.SUCCESSFUL, value=value)
    compat.task_finished.send(sender=sender, task_result=result)
    return value


def _finish(result: Any, status: Any, *, value: Any = None, error: BaseException | None = None) -> None:
    # TaskResult is a frozen dataclass; Django's own backends update it the same way.
    object.__setattr__(result, "status", status)
    object.__setattr__(result, "finished_at", timezone.now())
    object.__setattr__(result, "_return_value", value)
    if error is not None:
        kind = type(error)
        result.errors.append(
            compat.TaskError(
                exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
                traceback="".join(traceback.format_exception(error)),
            )
        )
