"""shared_task: a task declared for every app, published through the current one (``arame.current``).

A shared task is declared for every app, those made before it and after; it publishes through
the app made last (the current one) when called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from arame.celery_options import CHUNKS
from arame.current import registry
from arame.errors import NotSupportedError

if TYPE_CHECKING:
    from arame.results import AsyncResult
    from arame.task import Task


class SharedTask:
    """A task declared for every app; it publishes through the app current when called."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn = fn
        self.name = options.get("name") or f"{fn.__module__}.{fn.__qualname__}"
        self._options = {**options, "name": self.name}
        registry.share(fn, self._options)

    def __repr__(self) -> str:
        return f"<SharedTask {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._options.get("bind"):
            return self._task()(*args, **kwargs)  # the function expects its task as self
        return self.fn(*args, **kwargs)

    def _task(self) -> Task[Any, Any]:
        app = registry.current_app()
        return app.tasks.get(self.name) or app.task(**self._options)(self.fn)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app."""
        return self._task().delay(*args, **kwargs)

    def apply_async(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app, with options."""
        return self._task().apply_async(*args, **kwargs)

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Publish through the current app once the caller's transaction commits."""
        self._task().delay_on_commit(*args, **kwargs)

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Publish through the current app, with options, once the caller's transaction commits."""
        self._task().apply_async_on_commit(*args, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> list[AsyncResult]:
        """Publish many calls at once through the current app."""
        return self._task().map(*args, **kwargs)

    @property
    def chunks(self) -> NoReturn:
        """Celery's ``task.chunks``: not offered; the error names ``map`` and ``group``."""
        raise NotSupportedError(CHUNKS)

    async def adelay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app, from async code."""
        return await self._task().adelay(*args, **kwargs)

    async def aapply_async(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app, with options, from async code."""
        return await self._task().aapply_async(*args, **kwargs)

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        """A handle on a result, read through the current app."""
        return self._task().AsyncResult(task_id)


def shared_task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Declare a task for reusable modules: it binds to the app current when it is called."""

    def declare(function: Callable[..., Any]) -> SharedTask:
        return SharedTask(function, options)

    return declare(fn) if fn is not None else declare
