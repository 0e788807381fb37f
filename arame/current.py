"""The registry of the apps alive in this process and the current one (the one hidden module state).

``shared_task``, ``signature`` and ``AsyncResult(task_id)`` without an app use the app made last
of those still alive.
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
        self.made: list[weakref.ReferenceType[App]] = []  # in the order they were made
        self.shared: list[tuple[Callable[..., Any], dict[str, Any]]] = []

    def add(self, app: App) -> None:
        self.apps.add(app)
        self.made = [*(ref for ref in self.made if ref() is not None), weakref.ref(app)]
        for fn, options in self.shared:
            app.task(**options)(fn)

    def make_current(self, app: App) -> None:
        """Make ``app`` the current one again, as if it were made last."""
        self.made = [*(ref for ref in self.made if ref() not in (None, app)), weakref.ref(app)]

    def share(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.shared.append((fn, options))
        for app in list(self.apps):
            app.task(**options)(fn)

    def current_app(self, purpose: str = "calling a shared task") -> App:
        """The app made last of those still alive.

        An app made later and dropped since (by a test, a command, a library) does not hide the
        one the project keeps, such as Django's.

        Raises:
            ConfigurationError: no app exists (any more); the message names ``purpose``.
        """
        for ref in reversed(self.made):
            if (app := ref()) is not None:
                return app
        raise ConfigurationError(f"no arame.App exists yet: create one before {purpose}")


registry = AppRegistry()


__all__ = ["AppRegistry", "registry"]
