"""Declaring a function as a task of an app: its name, its options, and one function per name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arame.celery_options import translate
from arame.errors import ConfigurationError
from arame.task import Task, task_options

if TYPE_CHECKING:
    from arame.app import App


def declare_task(app: App, function: Callable[..., Any], options: dict[str, Any]) -> Task[Any, Any]:
    """Register ``function`` as a task of ``app`` under ``options`` (Celery's spellings accepted).

    Raises:
        ConfigurationError: an unknown option, an invalid value, or another function already
            declared under the same name.
    """
    name = options.pop("name", None) or f"{function.__module__}.{function.__qualname__}"
    declared = task_options(name, translate(name, options))
    existing = app.tasks.get(name)
    if existing is not None and _origin(existing.fn) != _origin(function):
        raise ConfigurationError(
            f"two functions are declared as task {name!r}: {_origin(existing.fn)} and "
            f"{_origin(function)}; give one of them another name="
        )
    if declared.atomic and inspect.iscoroutinefunction(function):
        raise ConfigurationError(
            f"task {name!r}: an async def task cannot be atomic (its awaits would share one "
            "transaction across the event loop); declare it with def, or without atomic=True"
        )
    task: Task[Any, Any] = Task(app, function, declared)
    app.extensions.on_declare(task)  # the features check the options they read
    app.tasks[name] = task
    return task


def _origin(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
    return f"{fn.__module__}.{fn.__qualname__}{where}"
