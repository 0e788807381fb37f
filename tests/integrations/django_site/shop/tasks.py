"""Tasks of the test site: shared tasks (autodiscovered) and Django tasks."""

from __future__ import annotations

from typing import Any

from arame import shared_task
from arame.django.compat import ROOT

if ROOT == "django.tasks":
    from django.tasks import task
else:
    from django_tasks import task

#: What the shared tasks did, for the tests to read (they run in this process's threads).
CALLS: list[Any] = []


@shared_task
def remember(value: Any) -> Any:
    CALLS.append(value)
    return value


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task
async def add_async(x: int, y: int) -> int:
    return x + y


@task(takes_context=True)
def whoami(context: Any) -> str:
    return str(context.task_result.id)


@shared_task
def find_model(model: str) -> str:
    """Read an object its caller saved in the transaction that published this task."""
    from django.contrib.contenttypes.models import ContentType

    return str(ContentType.objects.get(app_label="outbox", model=model).model)


@shared_task(atomic=True)
def create_model(model: str, fail: bool = False) -> str:
    """Save an object in the transaction that records this task's result; fail after it if told."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.create(app_label="atomic", model=model)
    if fail:
        raise ValueError("after the write")
    return model
