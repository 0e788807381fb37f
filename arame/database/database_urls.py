"""Database URLs with their driver, and any URL's printable form (passwords masked)."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from arame.errors import ConfigurationError
from arame.extras import require_extra

DEFAULT_DATABASE_FILE = "arame.db"

# A bare database URL names a driver only when the user wrote one; these are the installed ones.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
# The drivers arame's extras bring: driver -> (its package, the extra).
_EXTRA_DRIVERS = {"psycopg": ("psycopg", "postgres"), "pymysql": ("pymysql", "mysql")}
# user:password@ after an optional scheme; greedy up to the last "@", since a raw "@" may sit in
# the password (over-masking a path is harmless, showing a password is not).
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)(?P<password>.*)@")
_PASSWORD_WITHOUT_SCHEME = re.compile(r"^(?P<head>[^:/@]*:)(?P<password>.*)@")
# A password passed as a parameter: ``?password=…`` in a URL (libpq, redis-py and PyMySQL read
# it) or ``password=…`` in a driver's connection string quoted in an error message.
_PASSWORD_PARAMETER = re.compile(r"(?i)\b(?P<key>\w*(?:password|passwd|pwd))=(?P<password>[^&#;\s'\"]*)")


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``: in ``user:password@`` (also when the
    scheme is missing) and in a ``password=`` parameter."""
    pattern = _PASSWORD if "://" in url else _PASSWORD_WITHOUT_SCHEME
    return _PASSWORD_PARAMETER.sub(r"\g<key>=***", pattern.sub(r"\g<head>***@", url))


def default_database_url() -> str:
    """The embedded default: one SQLite file ``arame.db`` in the working directory."""
    return f"sqlite:///{os.path.abspath(DEFAULT_DATABASE_FILE)}"


def scheme_of(url: str) -> str:
    """The part of ``url`` before ``://``, or ``""`` when there is none."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def database_url(url: str) -> str:
    """Normalise a results (or SQL broker) URL into an SQLAlchemy URL with a driver.

    ``sqla+`` is dropped, and a bare ``postgresql://`` or ``mysql://`` gets the driver arame
    installs (psycopg 3, PyMySQL).

    Raises:
        ConfigurationError: the URL names no database arame knows, or its driver is one of
            arame's extras and is not installed.
    """
    if url.lower().startswith("sqla+"):
        url = url[len("sqla+") :]
    scheme = scheme_of(url)
    base = scheme.split("+", 1)[0]
    if base not in {"sqlite", "postgresql", "postgres", "mysql", "mariadb"}:
        raise ConfigurationError(
            f"{redact_url(url)!r} is not a database URL arame can store results in; "
            "use sqlite:///FILE, postgresql://HOST/DB or mysql://HOST/DB"
        )
    check_port(url, "database URL")
    if "+" not in scheme and base in _DEFAULT_DRIVERS:
        url = _DEFAULT_DRIVERS[base] + url[len(scheme) :]
    elif base == "postgres":
        url = "postgresql" + url[len("postgres") :]
    driver = scheme_of(url).partition("+")[2]
    if driver in _EXTRA_DRIVERS:
        package, extra = _EXTRA_DRIVERS[driver]
        require_extra(package, extra, f"the {base}:// database")
    return url


def check_port(url: str, what: str) -> None:
    """Refuse a port that is not a number at once, rather than in a driver's traceback later.

    Raises:
        ConfigurationError: the port is not a number from 0 to 65535.
    """
    try:
        urlsplit(url).port  # noqa: B018 - reading it validates it
    except ValueError as exc:
        raise ConfigurationError(f"{what} {redact_url(url)!r}: {exc}") from exc


def describe_error(exc: BaseException) -> str:
    """The first line of an exception's text (database drivers add hint lines), or its type."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return redact_url(text.splitlines()[0]) if text else type(exc).__name__
