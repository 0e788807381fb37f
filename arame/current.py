"""The registry of the apps alive in this process and the current one (the one hidden module state).

``shared_task``, ``signature`` and ``AsyncResult(task_id)`` without an app use the app made last.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arame.errors import ConfigurationError

if TYPE_CHECKING:
    from arame.app import App


class AppRegistry:
    """The apps alive in this process, and the shared tasks declared for all of them."""

    def __init__(self) -> None:
        self.apps: weakref.WeakSet[App] = weakref.WeakSet()
        self.current: weakref.ReferenceType[App] | None = None
        self.shared: list[tuple[Callable[..., Any], dict[str, Any]]] = []

    def add(self, app: App) -> None:
        self.apps.add(app)
        self.current = weakref.ref(app)
        for fn, options in self.shared:
            app.task(**options)(fn)

    def share(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.shared.append((fn, options))
        for app in list(self.apps):
            app.task(**options)(fn)

    def current_app(self, purpose: str = "calling a shared task") -> App:
        """The app made last.

        Raises:
            ConfigurationError: no app exists (any more); the message names ``purpose``.
        """
        app = self.current() if self.current is not None else None
        if app is None:
            raise ConfigurationError(f"no arame.App exists yet: create one before {purpose}")
        return app


registry = AppRegistry()


__all__ = ["AppRegistry", "registry"]
