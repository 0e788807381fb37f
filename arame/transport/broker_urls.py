"""Broker URLs: which transport a URL names (database URLs and redaction live in arame.database)."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from arame.database.database_urls import (
    DEFAULT_DATABASE_FILE,
    check_port,
    database_url,
    default_database_url,
    describe_error,
    redact_url,
    scheme_of,
)
from arame.errors import ConfigurationError
from arame.extras import require_extra
from arame.transport import redis_urls
from arame.transport.capabilities import Capabilities, capabilities_of
from arame.transport.queue_types import DELIVERY_LIMIT, QUORUM, QueueTypes

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
    "with_queue_types",
]

DEFAULT_LEASE_SECONDS = 5.0

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
        queue_types: the RabbitMQ queue type of each queue (classic unless chosen otherwise).
    """

    kind: str
    url: str
    safe_url: str
    options: dict[str, Any] = field(default_factory=dict)
    queue_types: QueueTypes = field(default_factory=QueueTypes)

    @property
    def capabilities(self) -> Capabilities:
        """What its transport can do: every transport-specific branch reads this record."""
        return _capabilities(self.kind)  # read for every delivery: looked up once

    @property
    def shared_across_processes(self) -> bool:
        """Whether separate processes see the same queues (``memory://`` lives in one process)."""
        return self.capabilities.shared_across_processes


@functools.cache
def _capabilities(kind: str) -> Capabilities:
    return capabilities_of(kind)


def with_lease(spec: BrokerSpec, seconds: float) -> BrokerSpec:
    """``spec`` with its lease length set, on the transports that lease (SQL and Redis)."""
    if seconds <= 0:
        raise ConfigurationError(f"lease_seconds must be positive, not {seconds}")
    if not spec.capabilities.leases:
        return spec
    return replace(spec, options={**spec.options, "lease_seconds": seconds})


def with_queue_types(
    spec: BrokerSpec, default: str, per_queue: dict[str, str], max_deliveries: int
) -> BrokerSpec:
    """``spec`` with its RabbitMQ queue types set (``classic`` or ``quorum``); others ignore them.

    Raises:
        ConfigurationError: a type that is neither, or quorum queues with a ``max_deliveries``
            the broker's own delivery limit would reach first.
    """
    types = QueueTypes(default, dict(per_queue))
    if QUORUM in {default, *per_queue.values()} and max_deliveries >= DELIVERY_LIMIT:
        raise ConfigurationError(
            f"max_deliveries={max_deliveries} is too high for quorum queues: arame declares them "
            f"with x-delivery-limit={DELIVERY_LIMIT}, so it must stay below {DELIVERY_LIMIT}"
        )
    return replace(spec, queue_types=types)


def parse_broker_url(url: str, options: Mapping[str, Any] | None = None) -> BrokerSpec:
    """Parse a broker URL into the transport it selects.

    A ``;``-separated list of Redis or RabbitMQ URLs is a failover list: Kombu moves to the next
    one when a connection fails. Every URL of it must select the same transport. A list of
    ``sentinel://`` URLs names the sentinels of one Redis master instead.

    Args:
        url: the broker URL.
        options: transport options (``App(broker_options=...)``); they win over the URL's.

    Raises:
        ConfigurationError: the scheme is not one arame supports, a ``redis+...`` scheme other
            than ``redis+cluster``, a failover list that mixes transports or names a database or
            ``memory://``, options a Redis Cluster or Sentinel URL cannot take, or a Redis URL
            without the redis extra installed.
    """
    spec = _parse(url, dict(options or {}))
    if spec.kind == "redis":
        require_extra("redis", "redis", f"the {scheme_of(url)}:// broker")
    return spec


def _parse(url: str, options: dict[str, Any]) -> BrokerSpec:
    scheme = scheme_of(url)
    if scheme == "sentinel":
        kombu_url, settings = redis_urls.parse_sentinel(url, options)
        return BrokerSpec("redis", kombu_url, _redact_each(url), settings)
    if redis_urls.is_cluster(scheme) and ";" not in url:
        kombu_url, settings = redis_urls.parse_cluster(url, options)
        return BrokerSpec("redis", kombu_url, redact_url(url), settings)
    if ";" in url:
        return _with_options(_parse_failover(url), options)
    base = scheme.split("+", 1)[0]
    kind = "sql" if base == "sqla" else BROKER_SCHEMES.get(base)
    if kind is None:
        raise ConfigurationError(_unknown_scheme(url, scheme))
    if kind == "sql":
        return BrokerSpec("sql", "sqla+" + database_url(url), redact_url(url), options)
    if kind == "redis" and scheme not in {"redis", "rediss"}:
        raise redis_urls.refuse_unknown(url)  # Kombu would take it to its own transport on localhost
    check_port(url, "broker URL")
    if kind == "amqp":
        # Without confirms, a message RabbitMQ refuses is lost without a word.
        return BrokerSpec("amqp", url, redact_url(url), {"confirm_publish": True, **options})
    return BrokerSpec(kind, url, redact_url(url), options)


def _with_options(spec: BrokerSpec, options: dict[str, Any]) -> BrokerSpec:
    return replace(spec, options={**spec.options, **options}) if options else spec


def _redact_each(url: str) -> str:
    return ";".join(redact_url(part) for part in url.split(";"))


def _parse_failover(url: str) -> BrokerSpec:
    parts = [part.strip() for part in url.split(";") if part.strip()]
    if any(scheme_of(part) == "sentinel" or redis_urls.is_cluster(scheme_of(part)) for part in parts):
        raise ConfigurationError(
            f"a failover list cannot mix sentinel:// or redis+cluster:// with other URLs "
            f"({_redact_each(url)!r}): list the sentinels as sentinel://a;sentinel://b, "
            "the cluster's seed nodes as redis+cluster://a,b"
        )
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
        "redis+cluster://",
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
