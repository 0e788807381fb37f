"""URL -> Kombu connection and queues: the one place that picks a transport."""

from __future__ import annotations

from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from arame.transport import memory, redis, sql
from arame.transport.urls import BrokerSpec, scheme_of

CONNECT_TIMEOUT = 5.0
MAX_PRIORITY = 9


def connect(spec: BrokerSpec) -> Connection:
    """Return an unopened Kombu connection for ``spec`` (it connects on first use)."""
    options = dict(spec.options)
    connection = Connection(spec.url, connect_timeout=CONNECT_TIMEOUT, transport_options=options)
    if spec.kind == "sql":
        connection.transport_cls = sql.Transport
    elif uses_arame_redis(spec):
        connection.transport_cls = redis.Transport
    elif spec.kind == "memory":
        connection.transport_cls = memory.Transport
    return connection


def supports_delay(spec: BrokerSpec) -> bool:
    """Whether ``spec`` can hold a message until it is due (all but Kombu's stock Redis transport)."""
    return spec.kind != "redis" or uses_arame_redis(spec)


def uses_arame_redis(spec: BrokerSpec) -> bool:
    """Whether ``spec`` goes through arame's Redis transport.

    ``sentinel://`` (and ``redis+socket://``) stay on Kombu's stock Redis transport.
    """
    return spec.kind == "redis" and scheme_of(spec.url) in {"redis", "rediss"}


def kombu_queue(spec: BrokerSpec, name: str) -> Queue:
    """A durable queue reached through the default exchange (no binding lookup per publish)."""
    arguments = {"x-max-priority": MAX_PRIORITY} if spec.kind == "amqp" else None
    return Queue(name, exchange=Exchange(""), routing_key=name, durable=True, queue_arguments=arguments)


def wire_priority(spec: BrokerSpec, priority: int | None) -> int | None:
    """Map arame's scale (0 lowest .. 9 highest) onto the transport's own.

    arame's own transports take it as it is. Kombu's stock Redis transport (``sentinel://``)
    serves 0 first, the reverse of RabbitMQ, so the scale is flipped there. A message without a
    priority is sent as the lowest everywhere.
    """
    if spec.kind == "redis" and not uses_arame_redis(spec):
        return MAX_PRIORITY - (priority or 0)
    return priority or 0
