"""Finding the App a command line names: ``-A/--app MODULE[:ATTR]``, ``$ARAME_APP``, or MODULE.

Every command that reads an app takes ``-A/--app`` (Celery's spelling) and ``$ARAME_APP``; the
commands that took the app as their first argument still do. A read never creates a database.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from arame.app import App
from arame.database import database_url
from arame.errors import ConfigurationError

DEFAULT_ATTRIBUTE = "app"
APP_ENV = "ARAME_APP"
APP_METAVAR = "MODULE[:ATTR]"

TRACEBACK_KEY = "arame.traceback"
ANONYMOUS = "arame-cli"  # the name of the App a command opens when none was given

F = TypeVar("F", bound=Callable[..., Any])


def _remember_traceback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[TRACEBACK_KEY] = True  # meta is shared by the whole command chain


traceback_option = click.option(
    "--traceback",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_remember_traceback,
    help="On an error, also print the whole chain of exceptions behind it.",
)


def refuse_undecodable(args: list[str]) -> None:
    """Refuse an argument that is not UTF-8: no queue, task or database could hold it.

    Raises:
        click.UsageError: naming the argument, its bytes escaped.
    """
    for arg in args:
        try:
            arg.encode()
        except UnicodeEncodeError:
            shown = repr(os.fsencode(arg))[1:]
            raise click.UsageError(f"argument {shown} is not valid UTF-8") from None


def app_option(*, positional: bool = False, required: bool = True) -> Callable[[F], F]:
    """Give a command ``-A/--app MODULE[:ATTR]`` (also ``$ARAME_APP``); it receives ``app_spec``.

    Args:
        positional: also accept the app as an optional first argument, as ``arame worker
            shop.tasks`` always has; it wins over ``$ARAME_APP`` (not over ``-A``: both is an error).
        required: refuse to run without an app; otherwise ``app_spec`` may be ``None``.
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def with_app(
            *args: Any, app_flag: str | None = None, app_positional: str | None = None, **kwargs: Any
        ) -> Any:
            return command(*args, app_spec=_choose(app_flag, app_positional, required), **kwargs)

        decorated: Any = click.option(
            "-A",
            "--app",
            "app_flag",
            metavar=APP_METAVAR,
            envvar=APP_ENV,
            help=f"The module holding the App (attribute 'app' unless :ATTR) [env {APP_ENV}].",
        )(traceback_option(with_app))
        if positional:
            decorated = click.argument("app_positional", metavar=f"[{APP_METAVAR}]", required=False)(
                decorated
            )
        return decorated  # type: ignore[no-any-return]

    return decorate


def app_from_command_line() -> bool:
    """Whether the running command got ``-A`` on its command line (rather than from the env)."""
    return click.get_current_context().get_parameter_source("app_flag") == ParameterSource.COMMANDLINE


def _choose(flag: str | None, positional: str | None, required: bool) -> str | None:
    if flag and positional and app_from_command_line() and flag != positional:
        raise click.UsageError(f"give the app once: -A {flag} or {positional}, not both")
    spec = positional or flag
    if spec is None and required:
        raise click.UsageError(f"which app? give -A {APP_METAVAR} (or set {APP_ENV})")
    return spec


def open_app(app_spec: str | None, *, broker: str | None = None, results: str | None = None) -> App:
    """The app ``app_spec`` names, pointed at ``broker`` / ``results`` when given.

    Without ``app_spec`` an anonymous App on those URLs (their env vars, else the embedded file).

    Raises:
        ConfigurationError: the module does not import, holds no App, or a URL is not valid.
    """
    if app_spec is None:
        return App(ANONYMOUS, broker=broker, results=results)
    app = load_app(app_spec)
    app.configure(broker=broker, results=results)
    return app


def require_results_database(app: App) -> None:
    """Refuse to read results from an SQLite file that does not exist (reading would create it).

    Raises:
        ConfigurationError: the file is missing.
    """
    _require_sqlite_file(app, app.results_url, "results database")


def require_broker_database(app: App) -> None:
    """Refuse to read queues from an SQLite broker file that does not exist.

    Raises:
        ConfigurationError: the file is missing.
    """
    if app.broker.kind == "sql":
        _require_sqlite_file(app, app.broker_url, "broker database")


def _require_sqlite_file(app: App, url: str, what: str) -> None:
    path = sqlite_path(database_url(url))
    if path is not None and not os.path.exists(path):
        # Without an app, the likelier mistake is a missing -A; with one, nothing happened yet.
        hint = f" (give -A {APP_METAVAR} or the URL the app uses)" if app.name == ANONYMOUS else " yet"
        raise ConfigurationError(f"no {what} at {os.path.abspath(path)}: nothing was recorded there{hint}")


def sqlite_path(url: str) -> str | None:
    """The file an ``sqlite://`` URL names, or ``None`` (another database, or in memory)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    path = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    return path if path and path != ":memory:" else None


def load_app(spec: str) -> App:
    """Import ``MODULE`` and return the App that ``ATTR`` (default ``app``) names.

    ``ATTR`` may name an App, or a function that returns one (a factory, called with no
    arguments). In a Flask project it may also name the ``arame.flask.Arame`` extension, the
    Flask app, or the app factory (``create_app``, as ``flask --app`` takes it); see
    ``arame.flask.app_of``. The working directory is importable, as it is for ``python -m``.

    Raises:
        ConfigurationError: the module does not import (the message says where it failed),
            its factory fails, or it holds no App under that name.
    """
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    module = _import(module_name)
    target = getattr(module, attribute, None)
    if inspect.isfunction(target):
        target = _call_factory(target, f"{module_name}:{attribute}")
    if isinstance(target, App):
        return target
    flask = sys.modules.get("arame.flask")  # imported by the user's module: a Flask project
    app = flask.app_of(target, module) if flask is not None else None
    if isinstance(app, App):
        return app
    found = [name for name, value in vars(module).items() if isinstance(value, App)]
    hint = f"; it has {', '.join(found)} (use {module_name}:{found[0]})" if found else ""
    raise ConfigurationError(f"{module_name!r} has no arame.App named {attribute!r}{hint}")


def _import(module_name: str) -> ModuleType:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigurationError(
                f"no module named {module_name!r} (looked in {os.getcwd()} and sys.path)"
            ) from exc
        raise ConfigurationError(f"could not import {module_name!r}: {exc}{_where(exc)}") from exc
    except Exception as exc:
        raise ConfigurationError(
            f"could not import {module_name!r}: {type(exc).__name__}: {exc}{_where(exc)}"
        ) from exc


def _call_factory(factory: Callable[[], Any], name: str) -> Any:
    try:
        return factory()
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"{name}() failed: {type(exc).__name__}: {exc}{_where(exc)}") from exc


def _where(exc: BaseException) -> str:
    """`` (at FILE:LINE)``: where an import failed, in the user's code when it can tell."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen") and frame.filename != __file__
    ]
    if not frames:
        return ""
    # The deepest frame outside the standard library and installed packages: the user's line.
    own = [frame for frame in frames if not _installed(frame.filename)] or frames
    return f" (at {own[-1].filename}:{own[-1].lineno})"


_NOT_USER_CODE = (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(__file__)))


def _installed(filename: str) -> bool:
    """Whether ``filename`` is Python's, an installed package's or arame's own."""
    return filename.startswith(_NOT_USER_CODE) or "site-packages" in filename
