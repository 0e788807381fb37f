"""The project's App, built from Django's settings: ``ARAME = {...}`` and ``DATABASES["default"]``."""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connections, transaction

from arame import App, ConfigurationError

_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "sqlite3": "sqlite"}


class DjangoApp(App):
    """An App that also consumes the queues named by arame backends in Django's ``TASKS``."""

    def worker(self, *args: Any, **kwargs: Any) -> Any:
        """``App.worker``, refusing atomic tasks whose transaction could not hold the ORM's writes."""
        atomic = sorted(name for name, task in self.tasks.items() if task.options.atomic)
        if atomic and self.task_transaction is None:
            raise ConfigurationError(
                f"atomic task(s) {', '.join(atomic)}: their ORM writes and their results must be in one "
                "database, but ARAME names results= outside Django's default database; drop results= "
                "(or atomic=True)"
            )
        return super().worker(*args, **kwargs)

    def queues(self) -> list[str]:
        """The app's queues and the ``QUEUES`` of every ``arame.django.TaskBackend``."""
        extra: set[str] = set()
        for params in getattr(settings, "TASKS", {}).values():
            if params.get("BACKEND") == "arame.django.TaskBackend":
                extra.update(params.get("QUEUES", ["default"]))
        return sorted(set(super().queues()) | extra)


def database_url(settings_dict: dict[str, Any]) -> str:
    """The SQLAlchemy URL of a Django database (SQLite, PostgreSQL or MySQL/MariaDB).

    An in-memory SQLite database (Django's test database by default) cannot be reached from
    another connection, let alone another process: a temporary file of this process stands in.

    Raises:
        ConfigurationError: the database engine is not one arame can use.
    """
    vendor = settings_dict["ENGINE"].rsplit(".", 1)[-1]
    driver = _DRIVERS.get(vendor)
    if driver is None:
        raise ConfigurationError(
            f"arame cannot keep its queue and results in a {settings_dict['ENGINE']} database; "
            "set ARAME = {'broker': ..., 'results': ...}"
        )
    name = str(settings_dict.get("NAME") or "")
    if driver == "sqlite":
        if name in {"", ":memory:"} or "mode=memory" in name:
            name = os.path.join(tempfile.mkdtemp(prefix="arame-django-"), "arame.db")
        return f"sqlite:///{os.path.abspath(name)}"
    user, password = settings_dict.get("USER") or "", settings_dict.get("PASSWORD") or ""
    credentials = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"{driver}://{credentials}{'@' if credentials else ''}{host}{port}/{quote(name, safe='')}"


class Project:
    """The project's one App, created from the settings once Django's apps are ready."""

    def __init__(self) -> None:
        self._app: DjangoApp | None = None
        self._derived: tuple[str, ...] | None = None  # the Django database the URLs came from
        self._derived_keys: list[str] = []  # broker and/or results, where ARAME named none
        self._lock = threading.Lock()

    @property
    def app(self) -> DjangoApp:
        """The App (created here when the ``arame.django`` app is not installed yet)."""
        return self._app if self._app is not None else self.create()

    def create(self) -> DjangoApp:
        """Create the App from the settings, once; return it."""
        with self._lock:
            if self._app is None:
                self._app = self._create()
            return self._app

    def _create(self) -> DjangoApp:
        options = {key.lower(): value for key, value in getattr(settings, "ARAME", {}).items()}
        self._derived_keys = [key for key in ("broker", "results") if not options.get(key)]
        if self._derived_keys:
            self._derived = _identity(connections["default"].settings_dict)
            url = database_url(connections["default"].settings_dict)
            options.update(dict.fromkeys(self._derived_keys, url))
        options.setdefault("name", "django")
        options.setdefault("on_commit", transaction.on_commit)
        if "results" in self._derived_keys:
            # The results are in Django's database: delay() inside atomic() writes its row in
            # that transaction and publishes after the commit (the outbox).
            options.setdefault("transaction_source", _open_transaction)
            options.setdefault("task_transaction", _task_transaction)  # atomic tasks: the ORM's transaction
        try:
            app = DjangoApp(**options)
        except TypeError as exc:
            raise ConfigurationError(f"settings.ARAME: {exc}") from exc
        try:
            from arame.django import runner  # needs Django's task framework (or its backport)
        except ImportError:
            return app
        runner.install(app)
        return app

    def follow_database(self, settings_dict: dict[str, Any]) -> None:
        """Point the app at Django's database again if it changed (the test runner swaps it)."""
        if self._app is None or self._derived is None or self._derived == _identity(settings_dict):
            return
        self._derived = _identity(settings_dict)
        url = database_url(settings_dict)
        self._app.configure(**dict.fromkeys(self._derived_keys, url))


def _open_transaction() -> tuple[Any, Callable[[Callable[[], None]], None]] | None:
    """The DB-API connection of the open ``atomic()`` block on ``default``, with its on_commit."""
    connection = connections["default"]
    if not connection.in_atomic_block or _stands_in(connection.settings_dict):
        return None
    connection.ensure_connection()
    return connection.connection, functools.partial(transaction.on_commit, using="default")


@contextmanager
def _task_transaction() -> Iterator[tuple[Any, Callable[[], None]]]:
    """An atomic task's transaction: ``atomic()`` on ``default``, so the ORM writes in it."""
    with transaction.atomic(using="default"):
        connection = connections["default"]
        connection.ensure_connection()
        yield connection.connection, functools.partial(transaction.set_rollback, True, using="default")


def _stands_in(settings_dict: dict[str, Any]) -> bool:
    """Whether the results live in a file standing in for an in-memory SQLite database."""
    name = str(settings_dict.get("NAME") or "")
    return settings_dict["ENGINE"].endswith("sqlite3") and (name in {"", ":memory:"} or "mode=memory" in name)


def _identity(settings_dict: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(settings_dict.get(key)) for key in ("ENGINE", "NAME", "HOST", "PORT", "USER"))


project = Project()
