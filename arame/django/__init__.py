"""Django integration: ``INSTALLED_APPS += ["arame.django"]``.

- ``ARAME = {...}`` in settings: any ``App`` option (``broker``, ``results``, ``default_queue``,
  ...). With neither ``broker`` nor ``results``, both live in Django's ``default`` database.
- ``arame.django.app``: the project's App, created once Django's apps are ready.
- The ``tasks`` module of every installed app is imported at start-up, so ``@shared_task`` and
  ``@app.task`` in them are declared (a shared task's first ``delay()`` finds the App);
  ``task.delay_on_commit(...)`` publishes after the surrounding transaction commits.
- ``python manage.py arame worker`` (and every other ``arame`` command) with that app.
- ``TASKS = {"default": {"BACKEND": "arame.django.TaskBackend"}}`` for Django's task framework.
"""

from __future__ import annotations

from typing import Any

from arame.django.config import project

__all__ = ["TaskBackend", "app", "get_app"]


def get_app() -> Any:
    """The project's App (an ``arame.App``), created from the settings on first call."""
    return project.app


def __getattr__(name: str) -> Any:
    # Lazy: the App needs the settings, and the backend needs Django's task framework.
    if name == "app":
        return project.app
    if name == "TaskBackend":
        from arame.django.backend import TaskBackend

        return TaskBackend
    raise AttributeError(f"module 'arame.django' has no attribute {name!r}")
