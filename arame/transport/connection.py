"""URL -> Kombu connection and queues: the one place that picks a transport."""

from __future__ import annotations

from typing import Any

import kombu.connection
from kombu.entity import Exchange, Queue

from arame.transport import memory, redis_queue, sql
from arame.transport.queue_types import QUEUE_TYPES, TypedQueue, queue_arguments
from arame.transport.urls import BrokerSpec

CONNECT_TIMEOUT = 5.0

#: Kombu's transport names (a URL's scheme, or ``sqla`` for ``sqla+``) that arame serves itself.
#: ``redis+cluster://`` reaches Kombu as ``redis://`` with the cluster's nodes in the options.
ARAME_TRANSPORTS: dict[str, type[Any]] = {
    "redis": redis_queue.Transport,
    "rediss": redis_queue.Transport,
    "sentinel": redis_queue.Transport,
    "sqla": sql.Transport,
    "memory": memory.Transport,
}


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
            self.transport_cls = ARAME_TRANSPORTS.get(self.transport_cls.lower(), self.transport_cls)

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
