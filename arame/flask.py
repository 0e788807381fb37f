"""Flask integration: ``Arame(flask_app)`` or, with an app factory, ``Arame()`` + ``init_app()``.

::

    arame_ext = Arame()                      # at import time; tasks are declared on it

    @arame_ext.task
    def send_welcome(user_id: int) -> None:  # runs inside the Flask app's context
        ...

    def create_app() -> Flask:
        flask_app = Flask(__name__)
        flask_app.config.from_mapping(ARAME_BROKER_URL="redis://...", ARAME_RESULTS_URL="sqlite:///...")
        arame_ext.init_app(flask_app)
        return flask_app

``arame worker -A module:create_app`` (or ``-A module``, ``-A module:arame_ext``) calls the
factory, as ``flask --app`` does, and runs the tasks in the app context it binds.

Config keys: ``ARAME_BROKER_URL``, ``ARAME_RESULTS_URL``, and ``ARAME_<OPTION>`` for the App
options that can change after the App exists: ``DEFAULT_QUEUE``, ``IMMEDIATE``,
``MAX_MESSAGE_SIZE``, ``MAX_DELIVERIES``, ``TIMEZONE``, ``RESULT_EXPIRES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from arame.extras import require_extra

require_extra("flask", "flask", "arame.flask")  # one clear line rather than "No module named 'flask'"

from flask import Flask  # noqa: E402

from arame import App, ConfigurationError  # noqa: E402

_SETTABLE = ("default_queue", "immediate", "max_message_size", "max_deliveries", "timezone", "result_expires")


class Arame:
    """Binds an arame App to a Flask app: its config, and its app context around every task.

    Args:
        flask_app: the Flask app, or ``None`` to bind one later with ``init_app``.
        app: the arame App to use (default: a new one named after the Flask app).
    """

    def __init__(self, flask_app: Flask | None = None, app: App | None = None) -> None:
        self.app = app or App("flask")
        self.flask_app: Flask | None = None
        if flask_app is not None:
            self.init_app(flask_app)

    def init_app(self, flask_app: Flask) -> None:
        """Read the ``ARAME_*`` keys of ``flask_app.config``; run tasks in its app context.

        Raises:
            ConfigurationError: an ``ARAME_*`` key names no option arame knows.
        """
        config = {
            key[len("ARAME_") :].lower(): value
            for key, value in flask_app.config.items()
            if key.startswith("ARAME_")
        }
        self.app.configure(broker=config.pop("broker_url", None), results=config.pop("results_url", None))
        for option, value in config.items():
            if option not in _SETTABLE:
                raise ConfigurationError(f"{flask_app.name}: ARAME_{option.upper()} is not an arame option")
            setattr(self.app, option, value)
        self.flask_app = flask_app
        flask_app.extensions["arame"] = self

    def task(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Declare a task (as ``App.task``) that runs inside the Flask app's context."""

        def declare(function: Callable[..., Any]) -> Any:
            @functools.wraps(function)
            def in_app_context(*args: Any, **kwargs: Any) -> Any:
                if self.flask_app is None:
                    raise ConfigurationError(f"{function.__qualname__}: call init_app(flask_app) first")
                with self.flask_app.app_context():
                    return function(*args, **kwargs)

            return self.app.task(**options)(in_app_context)

        return declare(fn) if fn is not None else declare


#: The names ``flask --app MODULE`` calls as the app factory.
FACTORIES = ("create_app", "make_app")


def app_of(target: Any, module: ModuleType) -> App | None:
    """The App that ``arame ... -A`` finds in a Flask project, with its Flask app bound.

    Args:
        target: what ``-A MODULE[:ATTR]`` named (a factory already called): the ``Arame``
            extension, a Flask app holding one, or ``None`` when the module has no ``app``.
        module: the module ``-A`` imported: its factory binds an extension not yet bound.

    Returns:
        The extension's App, or ``None`` when ``target`` leads to no extension.

    Raises:
        ConfigurationError: the factory fails, or the extension is bound to no Flask app and
            the module has no factory.
    """
    if target is None:
        target = _call_factory(module) or next(
            (value for value in vars(module).values() if isinstance(value, Arame)), None
        )
    if isinstance(target, Flask):
        target = target.extensions.get("arame")
    if not isinstance(target, Arame):
        return None
    if target.flask_app is None:
        _call_factory(module)  # binds the extension, as it does when the web server starts
    if target.flask_app is None:
        raise ConfigurationError(
            f"{module.__name__}: the arame extension is bound to no Flask app (init_app was never "
            f"called): give -A {module.__name__}:FACTORY, the function that calls init_app"
        )
    return target.app


def _call_factory(module: ModuleType) -> Any:
    """What the module's ``create_app()`` (or ``make_app()``) returns; ``None`` without one."""
    name = next((name for name in FACTORIES if callable(getattr(module, name, None))), None)
    if name is None:
        return None
    try:
        return getattr(module, name)()
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"{module.__name__}:{name}() failed: {type(exc).__name__}: {exc}") from exc
