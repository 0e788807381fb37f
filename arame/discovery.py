"""Finding the tasks modules of a project's packages (Celery's ``autodiscover_tasks``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable


def import_related(packages: Iterable[str], related_name: str = "tasks") -> list[str]:
    """Import ``<package>.<related_name>`` for each package that has one; return those imported.

    Raises:
        ImportError: a tasks module exists but fails to import (it is not skipped silently).
    """
    found = []
    for package in packages:
        module = f"{package}.{related_name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name not in {module, package}:
                raise  # the module exists and imports something missing: say so
            continue
        found.append(module)
    return found
