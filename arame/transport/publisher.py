"""Publishing message bodies to a broker queue."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from amqp import spec as amqp_spec
from amqp.method_framing import frame_writer
from kombu.connection import Connection
from kombu.entity import Queue

from arame.errors import TransportError
from arame.message import CONTENT_ENCODING, CONTENT_TYPE
from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import connect, kombu_queue, wire_priority
from arame.transport.failures import broker_error
from arame.transport.routing import Route, route

logger = logging.getLogger(__name__)

PERSISTENT = 2
PUBLISH_ARGS = "Bssbb"  # Basic.Publish: ticket, exchange, routing key, mandatory, immediate


@contextlib.contextmanager
def gathered_frames(connection: Any) -> Iterator[None]:
    """Send the frames written meanwhile on ``connection`` (py-amqp) in one socket write.

    py-amqp writes every publish with a ``sendall`` of its own; a transaction's publishes wait
    for nothing, so they can go together. Nothing written inside may wait for an answer.
    """
    frames: list[bytes] = []

    class Gather:
        def write(self, data: Any) -> None:
            frames.append(bytes(data))  # a view of py-amqp's shared buffer: copied now

    original = connection.frame_writer
    connection.frame_writer = frame_writer(connection, Gather())
    try:
        yield
    finally:
        connection.frame_writer = original
    connection.transport.write(b"".join(frames))


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish.

    Attributes:
        body: the message body, JSON.
        queue: the queue to deliver it to.
        priority: 0 (lowest) .. 9 (highest); ``None`` is the lowest.
        headers: message headers.
        not_before: epoch seconds before which it must not be delivered. A later time makes the
            broker (or database) hold it until then; ``None`` or a past time delivers it now.
            See ``arame.transport.delay``.
    """

    body: str
    queue: str
    priority: int | None = None
    headers: dict[str, Any] | None = None
    not_before: float | None = None


class Publisher:
    """Publishes encoded bodies on one broker connection (``Producer`` publishes TaskMessages through it).

    Not thread-safe (the Producer guards it).

    On RabbitMQ it speaks AMQP through py-amqp directly: one message is confirmed, a batch is
    one transaction. Kombu's producer adds a queue check and a socket poll per message there,
    which cost as much as the publish itself. Other brokers go through Kombu's producer.

    Args:
        spec: the broker to publish to.
        max_retries: reconnect attempts after a lost connection before giving up.
    """

    def __init__(self, spec: BrokerSpec, *, max_retries: int = 3) -> None:
        self.spec = spec
        self._connection: Connection | None = None
        self._producer: Any = None
        self._channels: dict[str, Any] = {}  # "confirm" and "transaction" AMQP channels
        self._queues: dict[str, Queue] = {}
        self._declared: set[str] = set()  # queues declared on the current connection
        self._max_retries = max_retries
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
        """Store one message (see ``Outgoing``), persistently, and return once the broker has it.

        Raises:
            ConfigurationError: ``not_before`` is not a number.
            TransportError: the broker could not be reached or refused the message.
        """
        self.publish_many([Outgoing(body, queue, priority, headers, not_before)])

    def publish_many(self, batch: Sequence[Outgoing]) -> None:
        """Store every message of ``batch``, and return once the broker has them all.

        On RabbitMQ and the SQL transport a batch of more than one is a transaction: one disk
        sync for all of it, and either all of it is stored or none. On Redis they go in one
        pipelined round trip, one by one (those before a failure stay stored).

        Raises:
            ConfigurationError: a ``not_before`` is invalid.
            TransportError: the broker could not be reached or refused the messages.
        """
        routes = [route(self.spec, self._queue(item.queue), item.not_before, item.headers) for item in batch]
        if not batch:
            return
        if self.spec.capabilities.publish_transactions:
            self._reconnecting(lambda: self._publish_amqp(batch, routes), batch)
            return
        if len(batch) == 1:
            self._guarded(functools.partial(self._publish_kombu, batch[0], routes[0]), batch)
            return
        self._guarded(functools.partial(self._publish_kombu_batch, batch, routes), batch)

    def close(self) -> None:
        """Close the connection; the next publish opens a new one."""
        connection, self._connection, self._producer = self._connection, None, None
        self._channels.clear()
        self._declared.clear()
        if connection is not None:
            try:
                connection.release()
            except Exception:
                logger.debug("closing the publisher connection failed", exc_info=True)

    def _publish_kombu(self, item: Outgoing, where: Route) -> None:
        if self._producer is None:
            self._producer = self._open().Producer(auto_declare=False)
        self._producer.publish(
            item.body,
            exchange="",
            routing_key=where.routing_key,
            declare=[entity for entity in where.declare if entity.name not in self._declared],
            content_type=CONTENT_TYPE,
            content_encoding=CONTENT_ENCODING,
            delivery_mode=PERSISTENT,
            priority=wire_priority(self.spec, item.priority),
            headers=where.headers,
            retry=True,
            retry_policy=self._retry_policy,
        )
        self._declared.update(entity.name for entity in where.declare)

    def _publish_kombu_batch(self, batch: Sequence[Outgoing], routes: list[Route]) -> None:
        """One after the other, together where the channel can (its ``batched_puts``: one
        transaction on the SQL transport, one pipelined round trip on Redis)."""
        if self._producer is None:
            self._producer = self._open().Producer(auto_declare=False)
        together = getattr(self._producer.channel, "batched_puts", None)
        with together() if together is not None else contextlib.nullcontext():
            for item, where in zip(batch, routes, strict=True):
                self._publish_kombu(item, where)

    def _publish_amqp(self, batch: Sequence[Outgoing], routes: list[Route]) -> None:
        mode = "confirm" if len(batch) == 1 else "transaction"
        channel = self._channels.get(mode) or self._open_channel(mode)
        for where in routes:  # first: a declare waits for its answer, the publishes do not
            self._declare(channel, where)
        with gathered_frames(channel.connection) if mode == "transaction" else contextlib.nullcontext():
            for item, where in zip(batch, routes, strict=True):
                self._publish_frame(channel, mode, item, where)
        if mode == "transaction":
            channel.tx_commit()

    def _publish_frame(self, channel: Any, mode: str, item: Outgoing, where: Route) -> None:
        message = channel.prepare_message(
            item.body,
            wire_priority(self.spec, item.priority),
            CONTENT_TYPE,
            CONTENT_ENCODING,
            where.headers,
            {"delivery_mode": PERSISTENT},
        )
        if mode == "confirm":
            channel.basic_publish(message, exchange="", routing_key=where.routing_key)  # waits
        else:
            # A bare Basic.Publish: the commit, not a confirm per message, says it is stored.
            channel.send_method(
                amqp_spec.Basic.Publish, PUBLISH_ARGS, (0, "", where.routing_key, False, False), message
            )

    def _open_channel(self, mode: str) -> Any:
        channel = self._open().channel()
        if mode == "transaction":
            channel.tx_select()
        self._channels[mode] = channel
        return channel

    def _declare(self, channel: Any, where: Route) -> None:
        for entity in where.declare:
            if entity.name not in self._declared:
                entity(channel).declare()
                self._declared.add(entity.name)

    def _reconnecting(self, action: Callable[[], None], batch: Sequence[Outgoing]) -> None:
        """Run ``action``; after a lost connection, reconnect and run it again (bounded)."""
        for attempt in range(self._max_retries + 1):
            try:
                action()
                return
            except Exception as exc:
                lost = self._connection is not None and isinstance(exc, self._connection.connection_errors)
                self.close()
                if not lost or attempt == self._max_retries:
                    raise self._error(batch, exc) from exc
                time.sleep(min(1.0, 0.1 + 0.5 * attempt))

    def _guarded(self, action: Callable[[], None], batch: Sequence[Outgoing]) -> None:
        try:
            action()
        except Exception as exc:
            self.close()  # the next publish starts from a fresh connection
            raise self._error(batch, exc) from exc

    def _error(self, batch: Sequence[Outgoing], exc: BaseException) -> TransportError:
        where = repr(batch[0].queue) if len(batch) == 1 else f"{len(batch)} messages"
        return broker_error(
            f"could not publish {'to ' if len(batch) == 1 else ''}{where} on", self.spec.safe_url, exc
        )

    def _open(self) -> Connection:
        if self._connection is None:
            self._connection = connect(self.spec)
        return self._connection

    def _queue(self, name: str) -> Queue:
        declared = self._queues.get(name)
        if declared is None:
            declared = self._queues[name] = kombu_queue(self.spec, name)
        return declared
