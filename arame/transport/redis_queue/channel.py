"""The Redis transport's Kombu channel: put, fetch under a lease, ack in batches, sizes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from queue import Empty
from typing import Any

import redis
from kombu.utils.json import dumps

from arame.transport.batched import BatchedQoS, LeaseHolding, fetch_count
from arame.transport.broker_urls import DEFAULT_LEASE_SECONDS
from arame.transport.compressed import VirtualMessage
from arame.transport.delay import delay_ms
from arame.transport.delivery import DELIVERIES
from arame.transport.exchanges import DeliveredExchanges
from arame.transport.redis_queue.client import database_number
from arame.transport.redis_queue.data_model import Fetched, Idle, QueueStore, new_tag
from arame.transport.redis_queue.fanout import FanoutChannel, topic_prefix
from arame.transport.stored_messages import read_envelope

logger = logging.getLogger(__name__)

LEASE_SECONDS = DEFAULT_LEASE_SECONDS
LOST = 0  # the delivery count recorded for a held message whose lease ran out: matches nothing
MAX_FETCH = 100  # messages one fetch may take, within what the prefetch allows


class QoS(BatchedQoS):
    """Acks delete the message, requeues and close release its lease."""

    def ack(self, delivery_tag: Any) -> None:
        try:
            self.channel._settle(delivery_tag, requeue=False)
        finally:
            super().ack(delivery_tag)  # settled or not, it no longer counts against the prefetch

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            self.channel._settle(delivery_tag, requeue=requeue)
        finally:
            self._quick_ack(delivery_tag)


class Channel(LeaseHolding, DeliveredExchanges, FanoutChannel):
    """One consumer's or producer's view of arame's queues in one Redis database."""

    QoS = QoS
    Message = VirtualMessage  # a compressed body stays as it arrived (see compressed.py)
    transport_name = "Redis"
    delivered_exchanges = frozenset({"direct", "topic", "fanout"})
    lease_seconds = LEASE_SECONDS

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._kept_store: QueueStore | None = None
        options = connection.client.transport_options
        self.lease_seconds = float(options.get("lease_seconds", self.lease_seconds))
        if self.lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {self.lease_seconds}")
        self._cluster = bool(options.get("cluster_nodes"))
        db = 0 if self._cluster else database_number(connection.client.virtual_host)
        self.fanout_prefix = topic_prefix(options.get("fanout_prefix", True), db)
        self._held: dict[str, tuple[str, int]] = {}  # tag -> (queue, delivery count when fetched)
        # Fetched in a batch and leased (so also held), not yet handed to Kombu.
        self._fetched: dict[str, deque[Fetched]] = defaultdict(deque)
        self._acked: dict[str, list[str]] = defaultdict(list)  # queue -> tags acked, not yet deleted
        # Queues a fetch found empty (or emptied) since every queue last looked empty (see
        # ``_fetch_around``).
        self._found_idle: set[str] = set()
        self._no_ack: set[str] = set()  # queues consumed without acknowledgements
        self._pid = os.getpid()
        self._lock = threading.Lock()  # guards _held: the renewing thread reads and marks it
        self.wake_at: dict[str, float] = {}  # queue -> monotonic time its next message is due
        self._batch: list[tuple[str, str, str, int]] | None = None  # puts inside batched_puts()

    @property
    def store(self) -> QueueStore:
        """The queues, through this process's client (the one kept by ``retire``, once retired)."""
        if self._kept_store is not None:
            return self._kept_store
        store: QueueStore = self.connection.store
        return store

    @property
    def lease_ms(self) -> int:
        """The lease length as the scripts take it."""
        return max(1, round(self.lease_seconds * 1000))

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        """Nothing to create: a queue's keys appear with its first message."""

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return True

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        properties = message.get("properties") or {}
        tag = new_tag(_priority(properties.get("priority")))
        # A fresh tag per put: the same message put twice is two messages, never one overwritten.
        stored = {**message, "properties": {**properties, "delivery_tag": tag}}
        put = (queue, tag, dumps(stored), delay_ms(message.get("headers")))
        if self._batch is not None:
            self._batch.append(put)
        else:
            self.store.put(*put)

    @contextmanager
    def batched_puts(self) -> Iterator[None]:
        """Send the messages published in the block together, at its end: one round trip (in
        order, not atomically: those before a failure stay stored)."""
        self._batch = []
        try:
            yield
            puts = self._batch
        finally:
            self._batch = None
        if puts:
            self.store.put_many(puts)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        fetched = self._fetched[queue]
        if not fetched:
            if queue in self._found_idle or any(self._fetched.values()):
                raise Empty()  # the cycle comes to the queues with messages fetched ahead
            self._fetch_around(queue)
            if not fetched:
                raise Empty()
        found = fetched.popleft()
        payload = read_envelope(found.payload, queue)
        properties = payload.setdefault("properties", {})
        properties["delivery_tag"] = found.tag
        properties.setdefault("delivery_info", {})["redelivered"] = found.deliveries > 1
        properties[DELIVERIES] = found.deliveries
        return payload

    def forget_idle(self) -> None:
        """Every consumed queue looked empty: the next fetch asks Redis about all of them again."""
        self._found_idle.clear()

    def _fetch_around(self, queue: str) -> None:
        """Fetch for ``queue`` as many messages as the prefetch allows, and lease them; in the same
        round trip, for the other consumed queues with nothing fetched ahead.

        Kombu's cycle asks the queues one by one for one message each; with many queues, a round
        trip per queue asked (most of them empty) cost more than the tasks. So the next fetch waits
        until every message fetched ahead was handed over, and then fills the window from all the
        queues at once (those found empty included: a message may have come since); and a queue
        found empty is not asked on its own again until every queue has looked empty
        (``forget_idle``: then the consumer waits for a wake-up, and asks them all after it).
        """
        count = fetch_count(self.qos, self._fetched, MAX_FETCH)
        active = self._active_queues
        if self._cluster or len(active) < 2 or queue not in active:
            found = self.store.fetch(queue, self.lease_ms, count)
            self._file(queue, found)
            if isinstance(found, list) and len(found) < count:
                # Drained by this fetch: not asked again before a wake-up (or a look at every queue).
                self._found_idle.add(queue)
            return
        at = active.index(queue)
        # From ``queue`` on, in the cycle's order: each queue in turn is asked first.
        asked = active[at:] + active[:at]
        for each, found in zip(asked, self.store.fetch_many(asked, self.lease_ms, count), strict=False):
            self._file(each, found)

    def _file(self, queue: str, found: list[Fetched] | Idle) -> None:
        """Keep what a fetch from ``queue`` took (held until acknowledged), or note it idle."""
        if isinstance(found, Idle):
            if found.wake_in is None:
                self.wake_at.pop(queue, None)
            else:
                self.wake_at[queue] = time.monotonic() + found.wake_in / 1000
            self._found_idle.add(queue)
            return
        self._found_idle.discard(queue)
        if queue in self._no_ack:
            self.store.ack(queue, [each.tag for each in found])  # no ack will come: done once fetched
        else:
            with self._lock:
                for each in found:
                    self._held[each.tag] = (queue, each.deliveries)
        self._fetched[queue].extend(found)

    def exchanges_delivered(self) -> frozenset[str]:
        # Fanout needs PUBLISH/SUBSCRIBE across the whole server, which the sharded pub/sub of
        # a cluster's wake-ups does not give.
        return self.delivered_exchanges - {"fanout"} if self._cluster else self.delivered_exchanges

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        if no_ack:
            self._no_ack.add(queue)
        else:
            self._no_ack.discard(queue)
        consumer_tag = super().basic_consume(queue, no_ack, *args, **kwargs)
        if self.fanout_topics(queue):
            # Subscribed before returning: a fanout message published from now on reaches us.
            self.connection.watch()
        return consumer_tag

    def basic_cancel(self, consumer_tag: Any) -> Any:
        self._no_ack.discard(self._tag_to_queue.get(consumer_tag, ""))
        return super().basic_cancel(consumer_tag)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        self._found_idle.discard(queue)  # a get asks the server, whatever an earlier fetch found
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._settle(message.delivery_tag, requeue=False)
            self.flush_acks()
        return message

    def _settle(self, delivery_tag: Any, *, requeue: bool) -> None:
        # Forgotten first: if the server cannot be told, its lease runs out and it comes back.
        with self._lock:
            held = self._held.pop(delivery_tag, None)
        if held is None:
            return
        queue, deliveries = held
        if not requeue:
            self._acked[queue].append(delivery_tag)  # deleted by the next flush_acks()
        elif self._owned():
            self.store.release(queue, [(delivery_tag, deliveries)])

    def flush_acks(self) -> None:
        """Delete the messages acknowledged since the last call, in one round trip.

        Until then an acknowledged message is only leased; if this process dies first, it comes
        back when the lease runs out, and the worker finds its task already finished.
        """
        acked, self._acked = self._acked, defaultdict(list)
        if acked:
            self.store.ack_many(acked)

    def retire(self) -> None:
        # Closing makes the transport forget its client: keep it, for the renewals and acks to come.
        self._kept_store = self.store
        super().retire()

    def _tag_of(self, fetched: Fetched) -> str:
        return fetched.tag

    def _release(self, held: dict[str, tuple[str, int]]) -> None:
        if not held or not self._owned():
            return
        try:
            # Given back in publish order, whatever order they go in.
            for queue, pairs in _by_queue(held.items()).items():
                self.store.release(queue, pairs)
        except redis.RedisError as exc:
            logger.warning(
                "could not give back %d held message(s): they return when their leases run out: %s",
                len(held),
                exc,
            )

    @property
    def holds_nothing(self) -> bool:
        """Whether no message is held here and no acknowledgement waits to be sent."""
        return not self._held and not any(self._acked.values())

    def renew_leases(self) -> None:
        """Push the lease of every held message forward: one round trip per queue.

        Called by the renewing thread (see ``LeaseRenewer``) every third of a lease.

        Raises:
            redis.RedisError: the server did not answer; the caller tries again soon.
        """
        if not self._owned():
            return
        with self._lock:
            live = [(tag, held) for tag, held in self._held.items() if held[1] != LOST]
        for queue, pairs in _by_queue(live).items():
            for tag in self.store.renew(queue, pairs, self.lease_ms):
                with self._lock:
                    still_held = tag in self._held  # else acknowledged (and deleted) meanwhile
                    if still_held:  # its ack still deletes it; renewing it is another's business
                        self._held[tag] = (queue, LOST)
                if still_held:
                    logger.warning(
                        "the lease of message %s in %r ran out before it was renewed: it may run twice",
                        tag,
                        queue,
                    )

    def queue_delete(
        self, queue: str, if_unused: bool = False, if_empty: bool = False, **kwargs: Any
    ) -> None:
        """Delete ``queue`` and all its messages, leased ones included, bound or not."""
        if if_empty and self._size(queue):
            return
        self._delete(queue)
        self.state.queue_bindings_delete(queue)

    def _size(self, queue: str) -> int:
        return self.store.size(queue)

    def delayed_size(self, queue: str) -> int:
        """Messages of ``queue`` not yet due."""
        return self.store.delayed_size(queue)

    def _purge(self, queue: str) -> int:
        return self.store.purge(queue)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.store.delete(queue)

    def _owned(self) -> bool:
        # A forked child inherits the held tags, but the leases are its parent's to renew or release.
        return os.getpid() == self._pid


def _priority(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _by_queue(held: Iterable[tuple[str, tuple[str, int]]]) -> dict[str, list[tuple[str, int]]]:
    grouped: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for tag, (queue, deliveries) in held:
        grouped[queue].append((tag, deliveries))
    return grouped
