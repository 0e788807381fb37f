"""Consuming from broker queues: deliveries in, acknowledgements out."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from kombu.connection import Connection

from arame.errors import TransportError
from arame.flow.fair import fair_parent
from arame.transport.connection import connect, kombu_queue
from arame.transport.delay import not_before_of, seconds_until
from arame.transport.delivery import DEAD_REASON, DELIVERIES, Delivery, dead_letter_queue
from arame.transport.failures import broker_error
from arame.transport.routing import route
from arame.transport.urls import BrokerSpec

logger = logging.getLogger(__name__)

ACCEPT = ["application/json"]


class Subscriber:
    """Receives deliveries from queues, at most ``prefetch`` unacknowledged at a time, and acks them.

    It knows nothing of tasks: ``Consumer`` drives it and runs what it receives.

    Args:
        spec: the broker.
        queues: names of the queues to consume.
        prefetch: how many unacknowledged deliveries the broker may hand over at once.
        on_delivery: called with each Delivery, on the draining thread.
    """

    def __init__(
        self,
        spec: BrokerSpec,
        queues: Sequence[str],
        prefetch: int,
        on_delivery: Callable[[Delivery], None],
    ) -> None:
        self.spec = spec
        self.queue_names = list(queues)
        self.prefetch = prefetch
        self._on_delivery = on_delivery
        self._connection: Connection | None = None
        self._consumer: Any = None
        self._unsettled: deque[int] = deque()  # AMQP delivery tags handed out, in order
        self.paused: frozenset[str] = frozenset()  # queues not consumed for now (see steer())
        self.followed: frozenset[str] = frozenset()  # fair sub-queues consumed as well

    def open(self) -> None:
        """Connect, declare the queues and start consuming.

        Raises:
            TransportError: the broker cannot be reached.
        """
        self.close()
        connection = connect(self.spec)
        try:
            connection.ensure_connection(max_retries=1)
            queues = [kombu_queue(self.spec, name) for name in self.active_queues]
            self._consumer = connection.Consumer(queues, on_message=self._receive, accept=ACCEPT)
            self._unsettled.clear()  # tags start again on a new channel
            self._apply_prefetch()
            # Set before consume(): with several queues, RabbitMQ delivers from the first ones
            # while the later ones are being consumed, and a redelivery is republished at once.
            self._connection = connection
            self._consumer.consume()
        except Exception as exc:
            self._connection, self._consumer = None, None
            connection.release()
            raise self._error("could not consume from", exc) from exc

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for deliveries and hand them to ``on_delivery``.

        Returns:
            ``True`` if something arrived, ``False`` if the wait ran out.

        Raises:
            TransportError: the connection was lost; call ``open()`` again.
        """
        if self._connection is None:
            self.open()
        assert self._connection is not None
        if not self.active_queues:
            self.heartbeat()  # every queue is paused: nothing to wait for but time
            time.sleep(timeout)
            return False
        try:
            self._connection.drain_events(timeout=timeout)
        except TimeoutError:  # socket.timeout: nothing arrived
            return False
        except Exception as exc:
            raise self._error("lost the connection to", exc) from exc
        return True

    @property
    def active_queues(self) -> list[str]:
        """The queues consumed now: all but the paused ones, and the sub-queues followed."""
        return [name for name in self.queue_names if name not in self.paused] + sorted(self.followed)

    def steer(self, paused: frozenset[str], followed: frozenset[str] = frozenset()) -> None:
        """Consume every queue but ``paused``, and the queues ``followed`` (fair sub-queues).

        Deliveries already received stay valid and are acknowledged as usual. Call it on the
        draining thread.

        Raises:
            TransportError: the connection was lost.
        """
        if paused == self.paused and followed == self.followed:
            return  # the common case, on every turn of the draining loop
        before = set(self.active_queues)
        paused_before, self.paused = self.paused, paused & frozenset(self.queue_names)
        self.followed = followed - frozenset(self.queue_names)
        after = set(self.active_queues)
        if after == before or self._consumer is None:
            return  # open() consumes the right ones
        try:
            for name in sorted(before - after):
                self._consumer.cancel_by_queue(name)
            for name in sorted(after - before):
                self._consumer.add_queue(kombu_queue(self.spec, name))
            if after - before:
                self._consumer.consume()
        except Exception as exc:
            raise self._error("could not change the queues consumed on", exc) from exc
        if self.paused != paused_before:
            logger.info("queues paused now: %s", ", ".join(sorted(self.paused)) or "none")

    def set_prefetch(self, prefetch: int) -> None:
        """Change how many unacknowledged deliveries the broker may hand over.

        Raises:
            TransportError: the connection was lost.
        """
        self.prefetch = prefetch
        if self._consumer is not None:
            try:
                self._apply_prefetch()
            except Exception as exc:
                raise self._error("lost the connection to", exc) from exc

    def _apply_prefetch(self) -> None:
        # Per channel ("global"): RabbitMQ applies a per-consumer limit only to consumers
        # created after it, so a change would never reach the running one.
        self._consumer.qos(prefetch_count=self.prefetch, apply_global=True)

    def acknowledge(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge deliveries; on RabbitMQ, a run of them with one frame.

        Raises:
            TransportError: the connection was lost; the broker delivers them again.
        """
        if not self.spec.capabilities.multiple_ack or self._consumer is None:
            for delivery in deliveries:
                delivery.ack()
            return
        channel = self._consumer.channel
        done = {d._message.delivery_tag for d in deliveries if d._message.channel is channel}
        try:
            # Every tag up to the last of an unbroken run from the oldest unsettled one: one
            # Basic.Ack with "multiple" settles them all.
            last = None
            while self._unsettled and self._unsettled[0] in done:
                last = self._unsettled.popleft()
                done.discard(last)
            if last is not None:
                channel.basic_ack(last, multiple=True)
            for delivery in deliveries:
                # Out of order: on its own. (One from a closed channel comes back by itself.)
                if delivery._message.channel is channel and delivery._message.delivery_tag in done:
                    delivery.ack()
                    self._forget(delivery)
        except Exception as exc:
            raise self._error("could not acknowledge messages on", exc) from exc

    def requeue(self, delivery: Delivery) -> None:
        """Give one delivery back to its queue."""
        delivery.requeue()
        self._forget(delivery)

    def _forget(self, delivery: Delivery) -> None:
        if self.spec.capabilities.multiple_ack and self._consumer is not None:
            with contextlib.suppress(ValueError):  # settled already
                self._unsettled.remove(delivery._message.delivery_tag)

    def flush(self) -> None:
        """Send acknowledgements a transport collects into one round trip (arame's SQL, Redis).

        Raises:
            TransportError: they could not be sent; the broker delivers those messages again.
        """
        flush_acks = getattr(self._consumer.channel, "flush_acks", None) if self._consumer else None
        if flush_acks is not None:
            try:
                flush_acks()
            except Exception as exc:
                raise self._error("could not acknowledge messages on", exc) from exc

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move a message nobody can run to ``<queue>.dead``, untouched, with ``reason`` in a header.

        The original stays unacknowledged until the copy is stored, so nothing is lost in between;
        the caller acknowledges it afterwards.

        Raises:
            TransportError: the copy could not be stored.
        """
        if self._connection is None:
            raise self._error("not connected to", ConnectionError("closed"))
        message = delivery._message
        dead = dead_letter_queue(fair_parent(delivery.queue) or delivery.queue)  # fair sub-queue: its queue's
        try:
            self._connection.Producer(auto_declare=False).publish(
                message.body,
                exchange="",
                routing_key=dead,
                declare=[kombu_queue(self.spec, dead)],
                content_type=message.content_type or "application/octet-stream",
                content_encoding=message.content_encoding or "binary",
                headers={**(message.headers or {}), DEAD_REASON: reason},
                delivery_mode=2,
            )
        except Exception as exc:
            raise self._error("could not dead-letter a message on", exc) from exc

    def heartbeat(self) -> None:
        """Keep the connection alive and renew the leases of held messages (call it often)."""
        if self._connection is not None:
            try:
                self._connection.heartbeat_check()
            except Exception as exc:
                raise self._error("lost the connection to", exc) from exc

    def queue_sizes(self) -> dict[str, int]:
        """Messages ready in each queue consumed now (not counting unacknowledged ones, nor paused queues)."""
        if self._connection is None:
            self.open()
        assert self._connection is not None
        try:
            channel = self._connection.default_channel
            # A plain (not passive) declare: Redis forgets a queue as soon as it is empty.
            return {
                name: kombu_queue(self.spec, name)(channel).queue_declare().message_count
                for name in self.active_queues
            }
        except Exception as exc:
            raise self._error("could not read queue sizes from", exc) from exc

    def close(self) -> None:
        """Stop consuming and close the connection; unacknowledged deliveries return to the broker."""
        connection, self._connection, self._consumer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:
                logger.debug("closing the subscriber connection failed", exc_info=True)

    def _receive(self, message: Any) -> None:
        queue = message.delivery_info.get("routing_key") or self.queue_names[0]
        not_before = not_before_of(message.headers)
        if not_before is not None and seconds_until(not_before) > 0:
            self._delay_again(message, queue, not_before)
            return
        if self.spec.capabilities.multiple_ack:  # RabbitMQ flags a redelivery; arame counts it
            if message.delivery_info.get("redelivered"):
                self._count_redelivery(message, queue)
                return
            self._unsettled.append(message.delivery_tag)
        self._on_delivery(Delivery(message, queue))

    def _count_redelivery(self, message: Any, queue: str) -> None:
        """Re-publish a redelivered RabbitMQ message with its delivery count in a header.

        Classic queues only say "redelivered", not how often; without a count, a message that
        kills every worker that runs it would come back forever. The copy goes to the tail of
        the queue and the original is acknowledged once the copy is confirmed.
        """
        assert self._connection is not None
        count = int((message.headers or {}).get(DELIVERIES) or 1) + 1
        self._connection.Producer(auto_declare=False).publish(
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

    def _delay_again(self, message: Any, queue: str, not_before: float) -> None:
        """Send a message that arrived before its time back to wait, and acknowledge it.

        RabbitMQ caps a TTL at 49 days, so a longer delay arrives early by design and waits again
        here; a publisher's clock ahead of ours has the same effect. Never happens on SQL (the
        fetch compares with this clock) nor on ``memory://``.
        """
        assert self._connection is not None
        where = route(self.spec, kombu_queue(self.spec, queue), not_before, message.headers)
        logger.debug("a message for %r arrived before its time; waiting again", queue)
        self._connection.Producer(auto_declare=False).publish(
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

    def _error(self, what: str, exc: BaseException) -> TransportError:
        return broker_error(what, self.spec.safe_url, exc)
