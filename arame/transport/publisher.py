"""Publishing message bodies to a broker queue."""

from __future__ import annotations

import logging
from typing import Any

from kombu.connection import Connection
from kombu.entity import Queue

from arame.errors import TransportError
from arame.message import CONTENT_ENCODING, CONTENT_TYPE
from arame.transport.connection import connect, kombu_queue, wire_priority
from arame.transport.routing import route
from arame.transport.urls import BrokerSpec, describe_error

logger = logging.getLogger(__name__)

PERSISTENT = 2


class Publisher:
    """One broker connection that publishes bodies; not thread-safe (the Producer guards it).

    Args:
        spec: the broker to publish to.
        max_retries: reconnect attempts after a lost connection before giving up.
    """

    def __init__(self, spec: BrokerSpec, *, max_retries: int = 3) -> None:
        self.spec = spec
        self._connection: Connection | None = None
        self._producer: Any = None
        self._queues: dict[str, Queue] = {}
        self._retry_policy = {
            "max_retries": max_retries,
            "interval_start": 0.1,
            "interval_step": 0.5,
            "interval_max": 1.0,
        }

    def publish(
        self,
        body: str,
        queue: str,
        priority: int | None = None,
        headers: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        """Store ``body`` in ``queue``, persistently, and return once the broker has it.

        Args:
            body: the message body, JSON.
            queue: the queue to deliver it to.
            priority: 0 (lowest) .. 9 (highest); ``None`` is the lowest.
            headers: message headers.
            not_before: epoch seconds before which it must not be delivered. A later time makes
                the broker (or database) hold it until then; ``None`` or a past time delivers it
                now. See ``arame.transport.delay``.

        Raises:
            ConfigurationError: ``not_before`` is not a number, or this broker cannot delay.
            TransportError: the broker could not be reached or refused the message.
        """
        declared = self._queues.get(queue)
        if declared is None:
            declared = self._queues[queue] = kombu_queue(self.spec, queue)
        where = route(self.spec, declared, not_before, headers)
        try:
            producer = self._producer or self._open()
            producer.publish(
                body,
                exchange="",
                routing_key=where.routing_key,
                declare=where.declare,
                content_type=CONTENT_TYPE,
                content_encoding=CONTENT_ENCODING,
                delivery_mode=PERSISTENT,
                priority=wire_priority(self.spec, priority),
                headers=where.headers,
                retry=True,
                retry_policy=self._retry_policy,
            )
        except Exception as exc:
            self.close()  # the next publish starts from a fresh connection
            raise TransportError(
                f"could not publish to {queue!r} on {self.spec.safe_url}: {describe_error(exc)}",
                url=self.spec.safe_url,
            ) from exc

    def close(self) -> None:
        """Close the connection; the next publish opens a new one."""
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:
                logger.debug("closing the publisher connection failed", exc_info=True)

    def _open(self) -> Any:
        self._connection = connect(self.spec)
        self._producer = self._connection.Producer(auto_declare=False)
        return self._producer
