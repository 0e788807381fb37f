"""What a broker holds of a queue, where it can tell: the task ids of its messages, or whether it is idle.

Used to find tasks a broker lost (a restart without persistence): a PENDING row whose message the
broker no longer holds. Exact on arame's Redis and SQL transports, which keep every message of a
queue (ready, delayed or leased to a consumer) until it is acknowledged; RabbitMQ can only say
that a queue is idle.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import sqlalchemy as sa

from arame.transport.admin import _on_channel
from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import redis_channel
from arame.transport.sql.channel import Channel as SqlChannel
from arame.transport.sql.messages_table import messages

SCAN_BATCH = 1000


def held_task_ids(spec: BrokerSpec, queue: str) -> set[str] | None:
    """The task ids of every message ``queue`` holds (ready, delayed or unacknowledged).

    ``None`` where the broker cannot list them (RabbitMQ, ``memory://``, ``sentinel://``).

    Raises:
        TransportError: the broker does not answer.
    """
    return _on_channel(spec, lambda channel: _held_on(channel, queue))


def queue_idle(spec: BrokerSpec, queue: str) -> bool | None:
    """Whether ``queue`` holds no message at all and no consumer could hold one unacknowledged.

    Answered on RabbitMQ (no ready message and no consumer: a message a consumer took and did not
    acknowledge comes back to the queue when its channel closes); ``None`` elsewhere.

    Raises:
        TransportError: the broker does not answer.
    """
    if not spec.capabilities.reports_idle:
        return None

    def idle(channel: Any) -> bool:
        try:
            declared = channel.queue_declare(queue=queue, passive=True)
        except Exception as exc:  # a queue that does not exist holds nothing
            if getattr(exc, "code", None) == 404:
                return True
            raise
        return bool(declared.message_count == 0 and declared.consumer_count == 0)

    return _on_channel(spec, idle)


def _held_on(channel: Any, queue: str) -> set[str] | None:
    if (redis := redis_channel(channel)) is not None:
        from arame.transport.redis_queue.data_model import queue_keys  # the redis extra is there

        payloads = redis.store.client.hscan_iter(queue_keys(queue)[1], count=SCAN_BATCH)
        return {task_id for _tag, payload in payloads if (task_id := _task_id(payload)) is not None}
    if isinstance(channel, SqlChannel):
        query = sa.select(messages.c.payload).where(messages.c.queue == queue)
        with channel.engine.connect() as conn:
            rows = conn.execute(query).scalars()
            return {task_id for payload in rows if (task_id := _task_id(payload)) is not None}
    return None


def _task_id(payload: str) -> str | None:
    """The task id in a stored Kombu message, or ``None`` if it has none that can be read."""
    try:
        message = json.loads(payload)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        task_id = json.loads(body).get("id")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return task_id if isinstance(task_id, str) else None
