"""Finding the App a command line names: ``MODULE[:ATTR]``."""

from __future__ import annotations

import importlib
import os
import sys

from arame.app import App
from arame.errors import ConfigurationError

DEFAULT_ATTRIBUTE = "app"


def load_app(spec: str) -> App:
    """Import ``MODULE`` and return its App (attribute ``app`` unless ``:ATTR`` names another).

    The working directory is importable, as it is for ``python -m``.

    Raises:
        ConfigurationError: the module does not import or holds no App under that name.
    """
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigurationError(
                f"no module named {module_name!r} (looked in {os.getcwd()} and sys.path)"
            ) from exc
        raise ConfigurationError(f"could not import {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise ConfigurationError(f"could not import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        found = [name for name, value in vars(module).items() if isinstance(value, App)]
        hint = f"; it has {', '.join(found)} (use {module_name}:{found[0]})" if found else ""
        raise ConfigurationError(f"{module_name!r} has no arame.App named {attribute!r}{hint}")
    return app
