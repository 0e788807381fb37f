"""URL -> Kombu connection and queues: the one place that picks a transport."""

from __future__ import annotations

import sqlite3
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from arame.transport import sql_stock
from arame.transport.urls import BrokerSpec

CONNECT_TIMEOUT = 5.0
MAX_PRIORITY = 9
#: Seconds SQLite waits on a lock held by another process before it gives up.
SQLITE_BUSY_TIMEOUT = 30.0


def connect(spec: BrokerSpec) -> Connection:
    """Return an unopened Kombu connection for ``spec`` (it connects on first use)."""
    options = dict(spec.options)
    if spec.kind == "sql" and spec.url.startswith("sqla+sqlite:"):
        options["creator"] = _sqlite_creator(spec.url[len("sqla+sqlite:///") :])
    connection = Connection(spec.url, connect_timeout=CONNECT_TIMEOUT, transport_options=options)
    if spec.kind == "sql":
        connection.transport_cls = sql_stock.Transport
    return connection


def kombu_queue(spec: BrokerSpec, name: str) -> Queue:
    """A durable queue reached through the default exchange (no binding lookup per publish)."""
    arguments = {"x-max-priority": MAX_PRIORITY} if spec.kind == "amqp" else None
    return Queue(name, exchange=Exchange(""), routing_key=name, durable=True, queue_arguments=arguments)


def wire_priority(spec: BrokerSpec, priority: int | None) -> int | None:
    """Map arame's scale (0 lowest .. 9 highest) onto the transport's own.

    Kombu's Redis transport serves 0 first, the reverse of RabbitMQ, so the scale is flipped
    there; a message without a priority is sent as the lowest on both.
    """
    if spec.kind == "redis":
        return MAX_PRIORITY - (priority or 0)
    if spec.kind == "amqp":
        return priority or 0
    return None


def _sqlite_creator(path: str) -> Any:
    def create() -> sqlite3.Connection:
        # WAL lets the results writer and the broker's readers work on the file at once.
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    return create
