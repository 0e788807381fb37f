"""arame's Redis transport: a Kombu virtual transport with leases.

Kombu's stock Redis transport pops a message (BRPOP) and records it as unacknowledged in a second
write, so a consumer that dies in between loses it, and gives unacknowledged messages back only
after ``visibility_timeout`` (1 h) counted from delivery, so a longer task runs twice. Here one
Lua script takes the message *and* leases it (``lease_seconds``, 5 s by default); the lease is
renewed while the message is held (by the subscriber's renewing thread, see ``LeaseRenewer``),
the message is deleted on ack, released on requeue or close, and an expired lease (its consumer
died) makes it deliverable again at the next fetch. A message
given back goes ahead of those never delivered, in publish order, as on RabbitMQ. Idle
consumers wait on a pub/sub wake-up instead of polling, and poll at least once a second so that
expired leases are reclaimed. Priorities run 9 first, like everywhere else in arame.

A delayed message waits in a sorted set by due time; the fetch script moves it to its ready list
once due. An empty fetch says how long until the next one is due (or a lease runs out), and the
idle consumer sleeps exactly that long, so it is fetched within milliseconds of its time.

Fanout exchanges go through pub/sub (see ``fanout``); Kombu's event loop is served too (see ``loop``).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from queue import Empty
from typing import Any

import redis
from kombu.transport import virtual

from arame.transport.draining import Backoff, drain_one
from arame.transport.redis_queue.channel import Channel
from arame.transport.redis_queue.client import DEFAULT_PORT, create_client
from arame.transport.redis_queue.data_model import QueueStore
from arame.transport.redis_queue.fanout import fanout_copy
from arame.transport.redis_queue.loop import LoopDriver
from arame.transport.redis_queue.waker import Waker

logger = logging.getLogger(__name__)

FALLBACK_POLL = 1.0  # seconds between polls while waiting for a wake-up: expiring leases send none
WAKE_MARGIN = 0.001  # seconds slept past a due time, so the next fetch finds the message due


class Transport(virtual.Transport):
    """Kombu transport class for ``redis://``, ``rediss://``, ``redis+cluster://`` and ``sentinel://``."""

    Channel = Channel
    driver_type = "redis"
    driver_name = "redis"
    default_port: Any = DEFAULT_PORT
    # Lost or refused connections (wrong password, server loading, failed over to a replica, a
    # cluster electing a new master for a slot) are connection errors: Kombu reconnects and
    # retries, and a subscriber reports a TransportError.
    connection_errors: Any = (
        *virtual.Transport.connection_errors,
        redis.ConnectionError,
        redis.TimeoutError,
        redis.ReadOnlyError,
        redis.exceptions.ClusterError,
        redis.exceptions.TryAgainError,
        redis.exceptions.RedisClusterException,
    )
    channel_errors: Any = (*virtual.Transport.channel_errors, redis.ResponseError, redis.DataError)
    implements = virtual.Transport.implements.extend(
        asynchronous=True, exchange_type=frozenset({"direct", "topic", "fanout"})
    )

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._store: QueueStore | None = None
        self._waker: Waker | None = None
        self._loop_driver: LoopDriver | None = None
        self._pid = os.getpid()
        # What ``watch`` subscribes to, and the consumed queues and bindings it was worked out for.
        self._consumed: tuple[tuple[int, tuple[str, ...], int], ...] = ()
        self._wake_channels: frozenset[str] = frozenset()
        self._topics: frozenset[str] = frozenset()

    @property
    def store(self) -> QueueStore:
        """The queues, through a client of this process: a forked child never uses its parent's."""
        if self._store is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._waker = None  # the parent's subscription: not ours to close
            assert self.client is not None
            self._store = QueueStore(create_client(self.client, self.client.transport_options))
        return self._store

    def establish_connection(self) -> Any:
        self.store.ping()  # a wrong host or password fails here, not at the first publish
        return super().establish_connection()

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message; between empty polls wait for a wake-up, or back off from 1 ms.

        Either wait ends early when a delayed message comes due or a lease runs out.
        """
        for channel in self.channels:
            channel.flush_acks()
        assert self.cycle is not None
        backoff = Backoff()

        def wait(subscribed: bool, remaining: float | None) -> None:
            step = min(FALLBACK_POLL, self.until_due())
            step = step if remaining is None else min(remaining, step)
            if subscribed:
                self._waker_for().wait(step)
            else:
                backoff.sleep(step)

        # Subscribed before each poll: a message published after it wakes us.
        drain_one(_FanoutFirst(self), self._deliver, timeout, self.watch, wait)

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Deliver through Kombu's event loop ``loop`` from now on (see ``LoopDriver``)."""
        self.unregister_from_event_loop(connection, loop)
        self._loop_driver = LoopDriver(self, loop)

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        driver, self._loop_driver = self._loop_driver, None
        if driver is not None:
            driver.stop()

    def deliver_fanout(self) -> bool:
        """Deliver the next fanout message received to the queues consumed here that it is for.

        Returns:
            whether one was delivered (``False``: none was waiting).
        """
        received = self._waker.received if self._waker is not None else None
        while received:
            topic, raw = received.popleft()
            queues = [
                queue
                for channel in self.channels
                for queue in channel._active_queues
                if topic in channel.fanout_topics(queue)
            ]
            for queue in queues:
                self._deliver(fanout_copy(raw, queue), queue)
            if queues:
                return True
        return False

    def take_wakeups(self) -> bool:
        """Read what the subscription received, without waiting; return whether anything came."""
        return self._waker is not None and self._waker.wait(0.0)

    def subscription_sockets(self) -> list[socket.socket]:
        """The sockets of the wake-up subscription, for an event loop to watch."""
        return self._waker.sockets() if self._waker is not None else []

    def close_connection(self, connection: Any) -> None:
        if self._loop_driver is not None:
            self._loop_driver.stop()
            self._loop_driver = None
        super().close_connection(connection)  # closing the channels gives held messages back
        waker, store, self._waker, self._store = self._waker, self._store, None, None
        if self._pid != os.getpid():
            return  # the parent's sockets: closing them here would cut the parent off
        if waker is not None:
            waker.close()
        if store is not None:
            store.client.close()

    def forget_idle(self) -> None:
        """Every consumed queue looked empty: the next fetch asks Redis about each again."""
        for channel in self.channels:
            channel.forget_idle()

    def until_due(self) -> float:
        """Seconds until a message of a consumed queue comes due or its lease runs out."""
        soonest = min(
            (
                channel.wake_at[queue]
                for channel in self.channels
                if channel.qos.can_consume()  # a full channel fetches nothing: its times are stale
                for queue in channel._active_queues
                if queue in channel.wake_at
            ),
            default=math.inf,
        )
        return max(0.0, soonest - time.monotonic()) + WAKE_MARGIN

    def watch(self) -> bool:
        """Subscribe to the wake-ups and fanout topics of the consumed queues; return whether it holds."""
        store = self.store
        # Called before every poll: the channel names are worked out again only when the queues
        # consumed or the bindings changed (with 100 queues, that took more than the tasks).
        consumed = tuple(
            (id(channel), tuple(channel._active_queues), len(channel.state.bindings))
            for channel in self.channels
        )
        if consumed != self._consumed:
            queues = {queue for channel in self.channels for queue in channel._active_queues}
            self._topics = frozenset(
                topic
                for channel in self.channels
                for queue in channel._active_queues
                for topic in channel.fanout_topics(queue)
            )
            self._wake_channels = frozenset(store.wake_channel(queue) for queue in queues)
            self._consumed = consumed
        return self._waker_for().watch(self._wake_channels, self._topics)

    def _waker_for(self) -> Waker:
        store = self.store  # first: resets the waker in a forked child
        if self._waker is None:
            self._waker = Waker(store.client)
        return self._waker


class _FanoutFirst:
    """What ``drain_events`` polls: a fanout message already received, else the queues."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def get(self, callback: Any, timeout: float | None = None) -> None:
        transport = self._transport
        if not transport.deliver_fanout():
            assert transport.cycle is not None
            try:
                transport.cycle.get(callback, timeout=timeout)
            except Empty:
                transport.forget_idle()  # the wait comes next; after it, every queue is asked
                raise
