"""Queue administration: is the broker there, how deep are the queues, empty them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from arame.errors import TransportError
from arame.transport.connection import connect, kombu_queue
from arame.transport.urls import BrokerSpec, describe_error


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
    """Messages ready in each queue (unacknowledged ones not counted).

    Raises:
        TransportError: the broker does not answer.
    """
    return _on_queues(spec, names, lambda queue: queue.queue_declare().message_count)


def purge_queues(spec: BrokerSpec, names: Sequence[str]) -> dict[str, int]:
    """Delete every ready message of each queue; return how many each one held.

    Raises:
        TransportError: the broker does not answer.
    """
    return _on_queues(spec, names, _purge)


def _on_queues(spec: BrokerSpec, names: Sequence[str], action: Callable[[Any], int]) -> dict[str, int]:
    connection = connect(spec)
    try:
        channel = connection.default_channel
        return {name: action(kombu_queue(spec, name)(channel)) for name in names}
    except Exception as exc:
        raise TransportError(
            f"could not inspect queues on {spec.safe_url}: {describe_error(exc)}", url=spec.safe_url
        ) from exc
    finally:
        connection.release()


def _purge(queue: Any) -> int:
    queue.declare()  # RabbitMQ refuses to purge a queue that does not exist yet
    return int(queue.purge() or 0)
