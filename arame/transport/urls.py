"""Broker URLs: which transport a URL names (database URLs and redaction live in arame.database)."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field, replace
from typing import Any

from arame.database.urls import (
    DEFAULT_DATABASE_FILE,
    database_url,
    default_database_url,
    describe_error,
    redact_url,
    scheme_of,
)
from arame.errors import ConfigurationError
from arame.transport.capabilities import Capabilities, capabilities_of

__all__ = [
    "BROKER_SCHEMES",
    "DEFAULT_DATABASE_FILE",
    "DEFAULT_LEASE_SECONDS",
    "BrokerSpec",
    "database_url",
    "default_database_url",
    "describe_error",
    "parse_broker_url",
    "redact_url",
    "scheme_of",
    "with_lease",
]

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
    def capabilities(self) -> Capabilities:
        """What its transport can do: every transport-specific branch reads this record."""
        return _capabilities(self.kind, self.url)  # read for every delivery: looked up once

    @property
    def shared_across_processes(self) -> bool:
        """Whether separate processes see the same queues (``memory://`` lives in one process)."""
        return self.capabilities.shared_across_processes


@functools.cache
def _capabilities(kind: str, url: str) -> Capabilities:
    return capabilities_of(kind, scheme_of(url))


def with_lease(spec: BrokerSpec, seconds: float) -> BrokerSpec:
    """``spec`` with its lease length set, on the transports that lease (SQL and Redis)."""
    if seconds <= 0:
        raise ConfigurationError(f"lease_seconds must be positive, not {seconds}")
    if not spec.capabilities.leases:
        return spec
    return replace(spec, options={**spec.options, "lease_seconds": seconds})


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
