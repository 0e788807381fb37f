"""Where a message is published: straight to its queue, or to where it waits until due."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kombu.entity import Queue

from arame.transport import amqp_delay
from arame.transport.broker_urls import BrokerSpec
from arame.transport.delay import seconds_until
from arame.transport.delivery import NOT_BEFORE


@dataclass(frozen=True, slots=True)
class Route:
    """Where to publish one message, through the default exchange.

    Attributes:
        routing_key: the queue it goes to first.
        declare: the queues to declare before publishing.
        headers: its headers; ``x-arame-not-before`` is among them when it is delayed.
    """

    routing_key: str
    declare: list[Queue]
    headers: dict[str, Any] | None


def route(
    spec: BrokerSpec, queue: Queue, not_before: float | None, headers: Mapping[str, Any] | None
) -> Route:
    """The route of a message for ``queue`` (a Kombu queue) that must not arrive before ``not_before``.

    A ``not_before`` that is ``None`` or past sends it straight to ``queue``. Otherwise SQL, Redis
    and ``memory://`` take it in ``queue`` and hold it there (they read the header), and RabbitMQ
    gets it in a delay queue that hands it over when due.

    Raises:
        ConfigurationError: ``not_before`` is not a finite number.
    """
    name = str(queue.name)
    delay = seconds_until(not_before)
    if delay <= 0:
        return Route(name, [queue], dict(headers) if headers is not None else None)
    delayed = {**(headers or {}), NOT_BEFORE: not_before}
    if not spec.capabilities.delay_queues:
        return Route(name, [queue], delayed)
    bucket = amqp_delay.bucket_ms(_whole_ms(delay))
    # The queue itself is declared too: RabbitMQ drops a message dead-lettered to no queue.
    return Route(
        amqp_delay.queue_name(name, bucket),
        [queue, amqp_delay.delay_queue(name, bucket, spec.queue_types)],
        delayed,
    )


def _whole_ms(seconds: float) -> int:
    return math.ceil(seconds * 1000)  # rounded up: a bucket is never shorter than the delay
