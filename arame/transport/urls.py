"""Broker and results URLs: which transport a URL names, and how to print it safely."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from arame.errors import ConfigurationError

DEFAULT_DATABASE_FILE = "arame.db"
DEFAULT_LEASE_SECONDS = 30.0

#: Broker schemes a user may write, and the kind of transport each one selects.
BROKER_SCHEMES: dict[str, str] = {
    "redis": "redis",
    "rediss": "redis",
    "sentinel": "redis",
    "amqp": "amqp",
    "amqps": "amqp",
    "pyamqp": "amqp",
    "memory": "memory",
    "sqlite": "sql",
    "postgresql": "sql",
    "postgres": "sql",
    "mysql": "sql",
}

# A bare database URL names a driver only when the user wrote one; these are the installed ones.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
# user:password@ after an optional scheme; greedy up to the last "@", since a raw "@" may sit in
# the password (over-masking a path is harmless, showing a password is not).
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)(?P<password>.*)@")
_PASSWORD_WITHOUT_SCHEME = re.compile(r"^(?P<head>[^:/@]*:)(?P<password>.*)@")
# A password passed as a parameter: ``?password=…`` in a URL (libpq, redis-py and PyMySQL read
# it) or ``password=…`` in a driver's connection string quoted in an error message.
_PASSWORD_PARAMETER = re.compile(r"(?i)\b(?P<key>password|passwd|pwd)=(?P<password>[^&#;\s'\"]*)")


@dataclass(frozen=True, slots=True)
class BrokerSpec:
    """A parsed broker URL.

    Attributes:
        kind: ``redis``, ``amqp``, ``memory`` or ``sql``.
        url: the URL as Kombu wants it.
        safe_url: the URL as the user wrote it, password masked: the only form to print.
        options: Kombu transport options.
    """

    kind: str
    url: str
    safe_url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def shared_across_processes(self) -> bool:
        """Whether separate processes see the same queues (``memory://`` lives in one process)."""
        return self.kind != "memory"


def with_lease(spec: BrokerSpec, seconds: float) -> BrokerSpec:
    """``spec`` with its lease length set, on the transports that lease (SQL and Redis)."""
    if seconds <= 0:
        raise ConfigurationError(f"lease_seconds must be positive, not {seconds}")
    if spec.kind not in {"sql", "redis"}:
        return spec
    return replace(spec, options={**spec.options, "lease_seconds": seconds})


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


def parse_broker_url(url: str) -> BrokerSpec:
    """Parse a broker URL into the transport it selects.

    A ``;``-separated list of Redis or RabbitMQ URLs is a failover list: Kombu moves to the next
    one when a connection fails. Every URL of it must select the same transport.

    Raises:
        ConfigurationError: the scheme is not one arame supports, or a failover list mixes
            transports or names a database or ``memory://``.
    """
    if ";" in url:
        return _parse_failover(url)
    scheme = scheme_of(url)
    base = scheme.split("+", 1)[0]
    kind = "sql" if base == "sqla" else BROKER_SCHEMES.get(base)
    if kind is None:
        raise ConfigurationError(_unknown_scheme(url, scheme))
    if kind == "sql":
        return BrokerSpec("sql", "sqla+" + database_url(url), redact_url(url))
    if kind == "amqp":
        # Without confirms, a message RabbitMQ refuses is lost without a word.
        return BrokerSpec("amqp", url, redact_url(url), {"confirm_publish": True})
    if kind == "redis" and scheme not in {"redis", "rediss"}:
        # sentinel:// stays on Kombu's stock Redis transport: ten buckets, one per priority level
        # (its default merges them into four). arame's own (redis://, rediss://) has ten anyway.
        return BrokerSpec("redis", url, redact_url(url), {"priority_steps": list(range(10))})
    return BrokerSpec(kind, url, redact_url(url))


def _parse_failover(url: str) -> BrokerSpec:
    parts = [part.strip() for part in url.split(";") if part.strip()]
    specs = [parse_broker_url(part) for part in parts]
    first = specs[0]
    if first.kind in {"sql", "memory"}:
        raise ConfigurationError(
            f"a failover list of {first.kind} brokers is not supported ({redact_url(url)!r}): "
            "each database or memory:// holds its own queues; give one URL (for a replicated "
            "database, the driver's own multi-host URL)"
        )
    schemes = {_transport_of(part) for part in parts}
    if len(schemes) > 1 or any(spec.kind != first.kind for spec in specs):
        raise ConfigurationError(
            f"every URL of the failover list {redact_url(url)!r} must use the same transport, "
            f"not {' and '.join(sorted(schemes))}"
        )
    return replace(first, url=";".join(spec.url for spec in specs), safe_url=";".join(map(redact_url, parts)))


def _transport_of(url: str) -> str:
    # redis:// and rediss:// share arame's Redis transport; the others keep their own.
    scheme = scheme_of(url)
    return "redis" if scheme == "rediss" else scheme


def database_url(url: str) -> str:
    """Normalise a results (or SQL broker) URL into an SQLAlchemy URL with a driver.

    ``sqla+`` is dropped, and a bare ``postgresql://`` or ``mysql://`` gets the driver arame
    installs (psycopg 3, PyMySQL).

    Raises:
        ConfigurationError: the URL names no database arame knows.
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
    if "+" not in scheme and base in _DEFAULT_DRIVERS:
        url = _DEFAULT_DRIVERS[base] + url[len(scheme) :]
    elif base == "postgres":
        url = "postgresql" + url[len("postgres") :]
    return url


def _unknown_scheme(url: str, scheme: str) -> str:
    supported = [
        "redis://",
        "rediss://",
        "sentinel://",
        "amqp://",
        "amqps://",
        "memory://",
        "sqla+<SQLAlchemy URL>",
        "sqlite:///",
        "postgresql://",
        "mysql://",
    ]
    if not scheme:
        return f"broker URL {redact_url(url)!r} has no scheme; supported: {', '.join(supported)}"
    hint = difflib.get_close_matches(scheme, list(BROKER_SCHEMES), n=1)
    did_you_mean = f" (did you mean {hint[0]}://?)" if hint else ""
    return (
        f"unknown broker scheme {scheme + '://'!r} in {redact_url(url)!r}{did_you_mean}; "
        f"supported: {', '.join(supported)}"
    )


def describe_error(exc: BaseException) -> str:
    """The first line of an exception's text (database drivers add hint lines), or its type."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return redact_url(text.splitlines()[0]) if text else type(exc).__name__
