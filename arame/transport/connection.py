"""URL -> Kombu connection and queues: the one place that picks a transport."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import kombu.connection
from kombu.entity import Exchange, Queue

from arame.extras import require_extra
from arame.transport import memory, sql
from arame.transport.broker_urls import BrokerSpec
from arame.transport.compressed import AmqpSSLTransport, AmqpTransport
from arame.transport.queue_types import QUEUE_TYPES, TypedQueue, queue_arguments

if TYPE_CHECKING:
    from arame.transport.redis_queue.channel import Channel as RedisChannel

CONNECT_TIMEOUT = 5.0

#: Kombu's transport names (a URL's scheme, or ``sqla`` for ``sqla+``) that arame serves itself.
#: ``redis+cluster://`` reaches Kombu as ``redis://`` with the cluster's nodes in the options.
_REDIS_TRANSPORTS = frozenset({"redis", "rediss", "sentinel"})
_OTHER_TRANSPORTS: dict[str, type[Any]] = {
    "sqla": sql.Transport,
    "memory": memory.Transport,
    # Kombu's own, with messages that keep a compressed body as it arrived (see compressed.py).
    "amqp": AmqpTransport,
    "pyamqp": AmqpTransport,
    "amqps": AmqpSSLTransport,
}


def arame_transport(name: str) -> type[Any] | None:
    """arame's transport class for Kombu's transport ``name``, or ``None`` where Kombu's own serves.

    The Redis one is imported only here, when a Redis URL is used: it needs the redis extra.

    Raises:
        ConfigurationError: a Redis URL without the redis package installed.
    """
    name = name.lower()
    if name in _REDIS_TRANSPORTS:
        require_extra("redis", "redis", f"the {name}:// broker")
        from arame.transport import redis_queue

        return redis_queue.Transport
    return _OTHER_TRANSPORTS.get(name)


def redis_channel(channel: Any) -> RedisChannel | None:
    """``channel`` when it is arame's Redis channel, else ``None`` (never imports redis to tell)."""
    module = sys.modules.get("arame.transport.redis_queue.channel")  # loaded if such a channel exists
    return channel if module is not None and isinstance(channel, module.Channel) else None


class Connection(kombu.connection.Connection):
    """A Kombu connection that keeps arame's transports wherever Kombu picks one again.

    Kombu reads the transport from the URL's scheme again on failover to the next URL of a
    ``;``-separated list, and for ``sqla+`` URLs in ``clone()`` and ``Pool()``: setting
    ``transport_cls`` once would silently become Kombu's stock transport there, whose keys and
    tables arame's consumers never read.
    """

    def _init_params(self, **params: Any) -> None:  # type: ignore[override]  # Kombu passes keywords
        super()._init_params(**params)
        if isinstance(self.transport_cls, str):
            self.transport_cls = arame_transport(self.transport_cls) or self.transport_cls

    def Pool(self, limit: int | None = None, **kwargs: Any) -> Any:  # noqa: N802 - Kombu's name
        """A pool of connections that keep arame's transports (Kombu's pools build stock ones)."""
        return _ConnectionPool(self, limit=limit, **kwargs)


class _PooledConnection(kombu.connection.PooledConnection, Connection):
    """Kombu's pooled connection, with arame's transports."""


class _ConnectionPool(kombu.connection.ConnectionPool):
    def new(self) -> Any:
        return _PooledConnection(self, **dict(self.connection._info(resolve=False)))


def connect(spec: BrokerSpec) -> Connection:
    """Return an unopened Kombu connection for ``spec`` (it connects on first use)."""
    options = dict(spec.options)
    return Connection(spec.url, connect_timeout=CONNECT_TIMEOUT, transport_options=options)


def kombu_queue(spec: BrokerSpec, name: str) -> Queue:
    """A durable queue reached through the default exchange (no binding lookup per publish).

    On RabbitMQ its arguments follow its type (classic or quorum; see ``queue_types``).
    """
    if spec.capabilities.priority_queue_argument:
        return TypedQueue(name, spec.queue_types, {kind: queue_arguments(kind, name) for kind in QUEUE_TYPES})
    return Queue(name, exchange=Exchange(""), routing_key=name, durable=True)


def wire_priority(spec: BrokerSpec, priority: int | None) -> int | None:
    """Map arame's scale (0 lowest .. 9 highest) onto the transport's own.

    Every transport takes it as it is (RabbitMQ, and arame's own, serve 9 first). A message
    without a priority is sent as the lowest everywhere.
    """
    return priority or 0
