"""Django's task framework: ``django.tasks`` on Django 6, the ``django_tasks`` backport on 5.2.

Both have the same names; the first importable one is used, as Any (neither is typed alike).
"""

from __future__ import annotations

import importlib
from typing import Any


def _root() -> str:
    try:
        importlib.import_module("django.tasks")
    except ImportError:
        return "django_tasks"
    return "django.tasks"


ROOT = _root()
_base = importlib.import_module(f"{ROOT}.base")
_signals = importlib.import_module(f"{ROOT}.signals")

BaseTaskBackend: Any = importlib.import_module(f"{ROOT}.backends.base").BaseTaskBackend
DjangoTask: Any = _base.Task
TaskContext: Any = _base.TaskContext
TaskError: Any = _base.TaskError
TaskResult: Any = _base.TaskResult
TaskResultStatus: Any = _base.TaskResultStatus
TaskResultDoesNotExist: Any = importlib.import_module(f"{ROOT}.exceptions").TaskResultDoesNotExist
task_backends: Any = importlib.import_module(ROOT).task_backends
task_enqueued: Any = _signals.task_enqueued
task_started: Any = _signals.task_started
task_finished: Any = _signals.task_finished
