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
from arame.subqueues import fair_parent
from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import connect, kombu_queue
from arame.transport.delay import not_before_of, seconds_until
from arame.transport.delivery import BROKER_DELIVERIES, Delivery, dead_letter_queue
from arame.transport.failures import broker_error, log_consumer_timeout
from arame.transport.renewal import HeldLeases
from arame.transport.republish import count_redelivery, publish_dead_letter, wait_again

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
        renew_leases: renew the leases of held messages on a thread (SQL and Redis); ``False``
            lets them run out while held, as a frozen process's would (for tests).
    """

    def __init__(
        self,
        spec: BrokerSpec,
        queues: Sequence[str],
        prefetch: int,
        on_delivery: Callable[[Delivery], None],
        *,
        renew_leases: bool = True,
    ) -> None:
        self.spec = spec
        self.queue_names = list(queues)
        self.prefetch = prefetch
        self._on_delivery = on_delivery
        self._connection: Connection | None = None
        self._consumer: Any = None
        self._unsettled: deque[int] = deque()  # AMQP delivery tags handed out, in order
        # Messages to publish again (redelivered, or early), after drain_events returns: a
        # publish waits for its confirm in drain_events, which would deliver the next one into it.
        self._again: deque[Callable[[], None]] = deque()
        self.paused: frozenset[str] = frozenset()  # queues not consumed for now (see steer())
        self._leases = HeldLeases(renew=renew_leases)  # renewed on a thread, across reconnections
        self.followed: frozenset[str] = frozenset()  # fair sub-queues consumed as well

    def open(self) -> None:
        """Connect, declare the queues and start consuming.

        A connection open before is dropped; what it delivered stays leased to this subscriber.

        Raises:
            TransportError: the broker cannot be reached.
        """
        self._drop_connection(retire=True)
        connection = connect(self.spec)
        try:
            connection.ensure_connection(max_retries=1)
            queues = [kombu_queue(self.spec, name) for name in self.active_queues]
            self._consumer = connection.Consumer(queues, on_message=self._receive, accept=ACCEPT)
            self._unsettled.clear()  # tags start again on a new channel
            self._again.clear()  # from the old channel: the broker delivers them again
            self._apply_prefetch()
            # Set before consume(): with several queues, RabbitMQ delivers from the first ones
            # while the later ones are being consumed, and a redelivery is republished at once.
            self._connection = connection
            self._consumer.consume()
        except Exception as exc:
            self._connection, self._consumer = None, None
            connection.release()
            raise self._error("could not consume from", exc) from exc
        self._leases.attach(self._consumer.channel)

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
        arrived = True
        try:
            try:
                self._connection.drain_events(timeout=timeout)
            except TimeoutError:  # socket.timeout: nothing arrived
                arrived = False
            while self._again:
                self._again.popleft()()
        except Exception as exc:
            log_consumer_timeout(exc)
            raise self._error("lost the connection to", exc) from exc
        return arrived

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
                if self.spec.capabilities.multiple_ack and self.active_queues:
                    # RabbitMQ applies a per-consumer limit only to consumers created after it:
                    # consume again. Deliveries in hand stay valid (they belong to the channel).
                    self._consumer.cancel()
                    self._consumer.consume()
            except Exception as exc:
                raise self._error("lost the connection to", exc) from exc

    def _apply_prefetch(self) -> None:
        # Per consumer, not per channel ("global"): quorum queues, and RabbitMQ 4.3 for every
        # queue, refuse a global limit. Each queue consumed may hold ``prefetch`` deliveries.
        self._consumer.qos(prefetch_count=self.prefetch, apply_global=False)

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
        try:
            if flush_acks is not None:
                flush_acks()
            self._leases.flush()  # those delivered before a reconnection
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
        dead = dead_letter_queue(fair_parent(delivery.queue) or delivery.queue)  # fair sub-queue: its queue's
        try:
            publish_dead_letter(self._republisher(), self.spec, delivery._message, dead, reason)
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
        self._leases.release()  # first: no renewal lands after the current channel's release
        self._drop_connection(retire=False)

    def _drop_connection(self, *, retire: bool) -> None:
        connection, self._connection, self._consumer = self._connection, None, None
        if connection is not None and retire:
            self._leases.retire()
        if connection is not None:
            try:
                connection.release()
            except Exception:
                logger.debug("closing the subscriber connection failed", exc_info=True)

    def _receive(self, message: Any) -> None:
        queue = message.delivery_info.get("routing_key") or self.queue_names[0]
        not_before = not_before_of(message.headers)
        if not_before is not None and seconds_until(not_before) > 0:
            self._again.append(lambda: wait_again(self._republisher(), self.spec, message, queue, not_before))
            return
        if self.spec.capabilities.multiple_ack:  # RabbitMQ flags a redelivery; arame counts it
            # ... unless the queue counts it itself (quorum queues: x-delivery-count).
            if message.delivery_info.get("redelivered") and BROKER_DELIVERIES not in (message.headers or {}):
                self._again.append(lambda: count_redelivery(self._republisher(), message, queue))
                return
            self._unsettled.append(message.delivery_tag)
        self._on_delivery(Delivery(message, queue))

    def _republisher(self) -> Any:
        assert self._connection is not None
        return self._connection.Producer(auto_declare=False)

    def _error(self, what: str, exc: BaseException) -> TransportError:
        return broker_error(what, self.spec.safe_url, exc)
