"""Queue administration: is the broker there, how deep are the queues, empty them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from arame.errors import TransportError
from arame.transport.connection import connect, kombu_queue, supports_delay
from arame.transport.urls import BrokerSpec, describe_error

T = TypeVar("T")


def check_broker(spec: BrokerSpec) -> None:
    """Connect once, quickly.

    Raises:
        TransportError: the broker does not answer.
    """
    connection = connect(spec)
    try:
        connection.ensure_connection(max_retries=1)
        connection.default_channel  # noqa: B018 - opening a channel proves the login works
    except Exception as exc:
        raise TransportError(
            f"cannot reach the broker {spec.safe_url}: {describe_error(exc)}", url=spec.safe_url
        ) from exc
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
    possible bucket name would take thousands of round trips. 0 on Kombu's stock Redis transport
    (``sentinel://``), which cannot delay.

    Raises:
        TransportError: the broker does not answer.
    """
    if spec.kind == "amqp":
        return dict.fromkeys(names)
    if not supports_delay(spec):
        return dict.fromkeys(names, 0)
    # One of arame's own channels: they all count delays.
    return _on_channel(spec, lambda channel: {name: int(channel.delayed_size(name)) for name in names})


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
        raise TransportError(
            f"could not inspect queues on {spec.safe_url}: {describe_error(exc)}", url=spec.safe_url
        ) from exc
    finally:
        connection.release()


def _purge(queue: Any) -> int:
    queue.declare()  # RabbitMQ refuses to purge a queue that does not exist yet
    return int(queue.purge() or 0)
