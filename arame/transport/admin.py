"""Queue administration: is the broker there, how deep are the queues, empty them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import connect, kombu_queue, redis_channel
from arame.transport.delivery import dead_letter_queue
from arame.transport.failures import broker_error
from arame.transport.sql.channel import Channel as SqlChannel
from arame.transport.sql.messages_table import messages

T = TypeVar("T")


def check_broker(spec: BrokerSpec) -> None:
    """Connect once, quickly, and prove the broker accepts us (address, login, database).

    Raises:
        TransportError: the broker does not answer or refuses the login.
    """
    connection = connect(spec)
    try:
        connection.ensure_connection(max_retries=1)
        channel = connection.default_channel  # on AMQP, opening a channel proves the login works
        # The SQL and Redis channels open lazily: without a round trip of their own a wrong
        # password or a dead server would only show later, as a connection the worker retries.
        if isinstance(channel, SqlChannel):
            with channel.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        elif (redis := redis_channel(channel)) is not None:
            redis.store.ping()
    except Exception as exc:
        raise broker_error("cannot reach the broker", spec.safe_url, exc) from exc
    finally:
        connection.release()


def queue_sizes(spec: BrokerSpec, names: Sequence[str]) -> dict[str, int]:
    """Messages ready in each queue: neither unacknowledged nor delayed (see ``delayed_sizes``).

    Raises:
        TransportError: the broker does not answer.
    """
    return _on_queues(spec, names, lambda queue: queue.queue_declare().message_count)


def delayed_sizes(spec: BrokerSpec, names: Sequence[str]) -> dict[str, int | None]:
    """Messages of each queue published with a ``not_before`` still in the future.

    ``None`` on RabbitMQ: they wait in one delay queue per delay bucket (``<queue>.delay.<ms>``),
    and AMQP cannot list queues (only the management plugin's HTTP API can), while trying every
    possible bucket name would take thousands of round trips.

    Raises:
        TransportError: the broker does not answer.
    """
    if spec.capabilities.delay_queues:
        return dict.fromkeys(names)
    # One of arame's own channels: they all count delays.
    return _on_channel(spec, lambda channel: {name: int(channel.delayed_size(name)) for name in names})


def in_flight_sizes(spec: BrokerSpec, names: Sequence[str]) -> dict[str, int | None]:
    """Messages of each queue a worker holds (fetched, not yet acknowledged).

    ``None`` where the broker cannot tell: RabbitMQ counts unacknowledged messages only in its
    management API, and ``memory://`` keeps them per channel.

    Raises:
        TransportError: the broker does not answer.
    """
    return _on_channel(spec, lambda channel: {name: _in_flight(channel, name) for name in names})


def dead_sizes(spec: BrokerSpec, names: Sequence[str]) -> dict[str, int]:
    """Messages in each queue's dead-letter queue (``<queue>.dead``), keyed by the queue.

    Raises:
        TransportError: the broker does not answer.
    """
    sizes = queue_sizes(spec, [dead_letter_queue(name) for name in names])
    return {name: sizes[dead_letter_queue(name)] for name in names}


def _in_flight(channel: Any, name: str) -> int | None:
    if isinstance(channel, SqlChannel):
        with channel.engine.connect() as conn:
            query = sa.select(sa.func.count()).where(
                messages.c.queue == name, messages.c.lease_until >= time.time()
            )
            return int(conn.execute(query).scalar_one())
    if (redis := redis_channel(channel)) is not None:
        from arame.transport.redis_queue.data_model import queue_keys  # the redis extra is there

        client = redis.store.client
        seconds, micros = client.time()  # leases run on the server's clock
        return int(client.zcount(queue_keys(name)[0], f"({seconds * 1000 + micros // 1000}", "+inf"))
    return None


def purge_queues(spec: BrokerSpec, names: Sequence[str]) -> dict[str, int]:
    """Delete every ready message of each queue; return how many each one held.

    Delayed messages go too on SQL, Redis and ``memory://``, where they wait in the queue's own
    storage; on RabbitMQ they wait in delay queues a purge does not reach, and arrive when due.

    Raises:
        TransportError: the broker does not answer.
    """
    return _on_queues(spec, names, _purge)


def _on_queues(spec: BrokerSpec, names: Sequence[str], action: Callable[[Any], int]) -> dict[str, int]:
    return _on_channel(
        spec, lambda channel: {name: action(kombu_queue(spec, name)(channel)) for name in names}
    )


def _on_channel(spec: BrokerSpec, action: Callable[[Any], T]) -> T:
    """Run ``action`` on a channel of a short-lived connection; broker errors become TransportError."""
    connection = connect(spec)
    try:
        return action(connection.default_channel)
    except Exception as exc:
        raise broker_error("could not inspect queues on", spec.safe_url, exc) from exc
    finally:
        connection.release()


def _purge(queue: Any) -> int:
    queue.declare()  # RabbitMQ refuses to purge a queue that does not exist yet
    return int(queue.purge() or 0)
