"""Optional packages: each comes with an extra, and its absence is one clear error when it is needed.

``import arame`` needs none of them; a feature imports its package only when it is used (a
``redis://`` broker, a PostgreSQL or MySQL database, the dashboard, an integration module).
"""

from __future__ import annotations

import importlib.util

from arame.errors import ConfigurationError


class MissingExtraError(ConfigurationError, ImportError):
    """A feature's package is not installed; the message names the extra that brings it.

    An ``ImportError`` too, so ``import arame.flask`` without Flask fails as imports do.
    """


def require_extra(package: str, extra: str, needed_by: str) -> None:
    """Raise one line naming the extra to install when ``package`` is not installed.

    Args:
        package: the top-level package to look for (``redis``, ``psycopg``).
        extra: arame's extra that brings it (``redis``, ``postgres``).
        needed_by: what needs it, for the message (``the redis:// broker``).

    Raises:
        MissingExtraError: ``package`` is not installed.
    """
    if importlib.util.find_spec(package) is None:
        raise MissingExtraError(f"{needed_by} needs the {extra} extra: pip install 'arame[{extra}]'")
