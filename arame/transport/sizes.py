"""Queue sizes read again and again on one connection (a worker's look at its fair sub-queues)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from kombu.connection import Connection

from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import connect, kombu_queue, redis_channel
from arame.transport.failures import broker_error
from arame.transport.sql.channel import Channel as SqlChannel
from arame.transport.sql.messages_table import messages

logger = logging.getLogger(__name__)


class SizeReader:
    """Reads how many messages are ready in queues, on a connection of its own kept between reads.

    For one thread at a time. On Redis and the SQL brokers one round trip counts every queue at once.

    Args:
        spec: the broker.
    """

    def __init__(self, spec: BrokerSpec) -> None:
        self.spec = spec
        self._connection: Connection | None = None

    def sizes(self, names: Sequence[str]) -> dict[str, int]:
        """Messages ready in each queue (due, neither delayed nor held by a consumer).

        Raises:
            TransportError: the broker does not answer (the next call connects again).
        """
        try:
            if self._connection is None:
                self._connection = connect(self.spec)
                self._connection.ensure_connection(max_retries=1)
            channel = self._connection.default_channel
            if isinstance(channel, SqlChannel):
                return _sql_sizes(channel, names)
            if (redis := redis_channel(channel)) is not None:
                return dict(zip(names, redis.store.sizes(names), strict=True))
            return {
                name: kombu_queue(self.spec, name)(channel).queue_declare().message_count for name in names
            }
        except Exception as exc:
            self.close()
            raise broker_error("could not read queue sizes from", self.spec.safe_url, exc) from exc

    def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.release()
            except Exception:
                logger.debug("closing the queue-size connection failed", exc_info=True)


def _sql_sizes(channel: Any, names: Sequence[str]) -> dict[str, int]:
    now = time.time()
    query = (
        sa.select(messages.c.queue, sa.func.count())
        .where(
            messages.c.queue.in_(list(names)),
            sa.or_(messages.c.lease_until.is_(None), messages.c.lease_until < now),
            sa.or_(messages.c.not_before.is_(None), messages.c.not_before <= now),
        )
        .group_by(messages.c.queue)
    )
    with channel.engine.connect() as conn:
        counts = {row[0]: int(row[1]) for row in conn.execute(query)}
    return {name: counts.get(name, 0) for name in names}
