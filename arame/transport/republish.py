"""Publishing a received message again: to count its deliveries, to wait longer, or as a dead letter."""

from __future__ import annotations

import logging
from typing import Any

from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import kombu_queue
from arame.transport.delivery import DEAD_REASON, DELIVERIES, is_number
from arame.transport.routing import route

logger = logging.getLogger(__name__)


def count_redelivery(producer: Any, message: Any, queue: str) -> None:
    """Re-publish a redelivered RabbitMQ message with its delivery count in a header.

    Classic queues only say "redelivered", not how often; without a count, a message that
    kills every worker that runs it would come back forever. The copy goes to the tail of
    the queue and the original is acknowledged once the copy is confirmed.
    """
    counted = (message.headers or {}).get(DELIVERIES)
    # Anyone who can publish writes this header: a count that is not a number in range counts
    # as one delivery (raising here would drop the connection, and it would come back forever).
    count = (int(counted) if is_number(counted) and 1 <= counted < 2**31 else 1) + 1
    producer.publish(
        message.body,
        exchange="",
        routing_key=queue,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        headers={**(message.headers or {}), DELIVERIES: count},
        priority=message.properties.get("priority"),
        delivery_mode=2,
    )
    message.ack()


def wait_again(producer: Any, spec: BrokerSpec, message: Any, queue: str, not_before: float) -> None:
    """Send a message that arrived before its time back to wait, and acknowledge it.

    RabbitMQ caps a TTL at 49 days, so a longer delay arrives early by design and waits again
    here; a publisher's clock ahead of ours has the same effect. Never happens on SQL (the
    fetch compares with this clock) nor on ``memory://``.
    """
    where = route(spec, kombu_queue(spec, queue), not_before, message.headers)
    logger.debug("a message for %r arrived before its time; waiting again", queue)
    producer.publish(
        message.body,
        exchange="",
        routing_key=where.routing_key,
        declare=where.declare,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        headers=where.headers,
        priority=message.properties.get("priority"),
        delivery_mode=2,
    )
    message.ack()


def publish_dead_letter(producer: Any, spec: BrokerSpec, message: Any, dead: str, reason: str) -> None:
    """Copy ``message`` untouched to the dead-letter queue ``dead``, with ``reason`` in a header.

    The caller acknowledges the original only once this returns: nothing is lost in between.
    """
    producer.publish(
        message.body,
        exchange="",
        routing_key=dead,
        declare=[kombu_queue(spec, dead)],
        content_type=message.content_type or "application/octet-stream",
        content_encoding=message.content_encoding or "binary",
        headers={**(message.headers or {}), DEAD_REASON: reason},
        delivery_mode=2,
    )
