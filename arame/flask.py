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

Config keys: ``ARAME_BROKER_URL``, ``ARAME_RESULTS_URL``, and ``ARAME_<OPTION>`` for the App
options that can change after the App exists: ``DEFAULT_QUEUE``, ``IMMEDIATE``,
``MAX_MESSAGE_SIZE``, ``MAX_DELIVERIES``, ``TIMEZONE``, ``RESULT_EXPIRES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask

from arame import App, ConfigurationError

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
