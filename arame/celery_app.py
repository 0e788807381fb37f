"""Celery's App spellings a port meets at once: ``include=``, ``app.conf``, ``app.control``,
``app.add_periodic_task``. Each works as arame's way of doing the same, or fails at once naming it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from arame import celery_settings
from arame.canvas.nodes import Signature
from arame.celery_settings import AppConf
from arame.errors import ConfigurationError, NotSupportedError
from arame.scheduler import PeriodicEntry

if TYPE_CHECKING:
    from arame.app import App

_AT_IMPORT = "call app.add_periodic_task(...) at import, after the tasks are declared"


class _Refused:
    """A Celery App attribute arame does not have: reading it raises ``NotSupportedError``."""

    def __init__(self, hint: str) -> None:
        self.hint = hint
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, app: object, owner: type | None = None) -> Any:
        if app is None:
            return self  # read on the class (introspection, docs): no error
        raise NotSupportedError(f"app.{self.name} is Celery's; {self.hint}")


def check_settings(app_class: type, settings: Mapping[str, Any]) -> None:
    """Refuse ``App(...)`` keywords that are neither App options nor Celery settings arame maps.

    Raises:
        ConfigurationError: the first such keyword, with what to give instead.
    """
    for name, value in settings.items():
        if not celery_settings.known(name):
            options = [p for p in inspect.signature(app_class).parameters if p not in {"settings"}]
            raise ConfigurationError(
                f"App() got an unknown keyword {name!r}; its options are {', '.join(options)}, and "
                f"the Celery settings it maps (see app.conf and docs/from-celery.md)"
            )
        try:
            celery_settings.check(name, value)
        except ConfigurationError as exc:
            raise ConfigurationError(f"App(..., {name}=...): {exc}") from None


class CelerySpellings:
    """The part of ``App`` that answers Celery's spellings (``App`` inherits it)."""

    include: list[str]
    _imported: set[str]

    @property
    def conf(self) -> AppConf:
        """Celery's ``app.conf``: each setting sets the App option that does the same."""
        return AppConf(cast("App", self))

    @property
    def control(self) -> Control:
        """Celery's ``app.control``: ``revoke`` only (the other verbs are arame commands)."""
        return Control(cast("App", self))

    def add_periodic_task(
        self, schedule: float | Any, sig: Signature, name: str | None = None, **options: Any
    ) -> None:
        """Celery's ``app.add_periodic_task(10.0, add.s(2, 2))``: ``@app.periodic`` by hand.

        ``schedule`` is seconds, a timedelta or a cron string; ``name`` is not needed.

        Raises:
            ConfigurationError: a schedule or a signature arame cannot run as given.
        """
        del name  # Celery names an entry; arame identifies a tick by its task and time
        if not isinstance(sig, Signature) or sig.options or sig.callbacks or sig.errbacks or options:
            raise ConfigurationError(
                "add_periodic_task takes a plain task.s(...) (no options or links); "
                "give queue= and such to @app.task"
            )
        app = cast("App", self)
        when = celery_settings.every_or_cron(app, schedule, "add_periodic_task")
        app.periodic_entries.append(PeriodicEntry(sig.task, when, sig.args, sig.kwargs))

    def import_included(self) -> list[str]:
        """Import the modules of ``include=`` (Celery's) not imported yet; the worker and scheduler call it.

        Returns:
            The modules imported by this call.

        Raises:
            ConfigurationError: a module does not import; the cause is chained.
        """
        pending = [module for module in self.include if module not in self._imported]
        self._imported.update(pending)  # before importing: the modules declare tasks on this app
        for module in pending:
            try:
                importlib.import_module(module)
            except Exception as exc:  # the user's module: say which one, keep the cause chained
                raise ConfigurationError(
                    f"could not import {module!r} (App include=): {type(exc).__name__}: {exc}"
                ) from exc
        return pending

    on_after_configure = _Refused(_AT_IMPORT)
    on_after_finalize = _Refused(_AT_IMPORT)
    config_from_object = _Refused(
        "give the settings to App(...) or app.conf.update(...) (arame.django reads settings.ARAME)"
    )
    Task = _Refused("custom Task classes are not supported: share behaviour through plain functions")


class Control:
    """Celery's ``app.control``, for the one verb arame has: ``revoke``."""

    def __init__(self, app: App) -> None:
        self._app = app

    def revoke(self, task_id: str | Sequence[str], *, terminate: bool = False, **_: Any) -> None:
        """Revoke one id or several, as ``AsyncResult(task_id).revoke(terminate=...)`` does."""
        for one in [task_id] if isinstance(task_id, str) else task_id:
            self._app.AsyncResult(one).revoke(terminate=terminate)

    def __getattr__(self, name: str) -> Any:
        raise NotSupportedError(
            f"app.control.{name} is Celery's remote control; arame has app.control.revoke, and "
            "the commands arame workers, pause, resume and status"
        )
