"""Pub/sub wake-ups: an idle consumer hears of a new message the moment it is published.

The same subscription receives the messages of fanout exchanges (see ``fanout``).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from typing import Any

import redis
from redis.cluster import RedisCluster

from arame.transport.redis_queue.client import Client
from arame.transport.redis_queue.shards import ShardedPubSub

logger = logging.getLogger(__name__)

RETRY_AFTER = 1.0  # seconds before subscribing again after a failure (meanwhile: polling)
CONFIRM_WITHIN = 1.0  # seconds to wait for the server to confirm a SUBSCRIBE
DISCARD_EVERY = 1.0  # seconds between emptying the wake-ups a busy consumer never waited for
MAX_DISCARD = 10_000  # wake-ups read in one go, so that a publishing storm cannot hold us here
MAX_RECEIVED = 10_000  # fanout messages kept until delivered; beyond, the oldest are dropped


class Waker:
    """A subscription to the wake-up channels of the queues being consumed.

    The subscription is made before the queues are polled and kept between waits, so a message
    published after an empty poll always leaves a wake-up to find. Any failure drops the
    subscription; the caller polls instead until it is back, so a lost subscription delays
    messages but never loses them.

    On a Redis Cluster the subscriptions are sharded (SSUBSCRIBE on the master of each queue's
    slot), as the scripts send their wake-ups there.

    Messages on fanout topics are kept in ``received`` (topic, payload) until delivered.

    Args:
        client: the client whose connection pool lends the subscription its connection.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._pubsub: Any = None  # a PubSub, or a ShardedPubSub on a cluster
        self._channels: frozenset[str] = frozenset()
        self._topics: frozenset[str] = frozenset()
        self.received: deque[tuple[str, str]] = deque(maxlen=MAX_RECEIVED)
        self._woken = False  # a wake-up arrived while confirming a subscription
        self._retry_at = 0.0
        self._failing = False
        self._discarded = time.monotonic()

    def watch(self, channels: frozenset[str], topics: frozenset[str] = frozenset()) -> bool:
        """Be subscribed to exactly ``channels`` and fanout ``topics``; return whether ``wait`` works."""
        now = time.monotonic()
        self._topics = topics
        channels = channels | topics
        if not channels or (self._pubsub is None and now < self._retry_at):
            return False
        try:
            if self._pubsub is None or channels != self._channels:
                self._subscribe(channels)
            elif now - self._discarded >= DISCARD_EVERY:
                # A consumer that never goes idle never reads its wake-ups; left there, they would
                # grow until Redis cuts the connection (client-output-buffer-limit pubsub).
                # One read here is still news to a caller that polls only when woken (an event loop).
                self._woken = self._discard_pending() or self._woken
        except (redis.RedisError, OSError) as exc:
            self._fail(exc)
            return False
        if self._failing:
            logger.info("Redis wake-up subscription is back")
            self._failing = False
        return True

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; return True as soon as a wake-up arrives."""
        if self._woken:
            self._woken = False
            return True
        if self._pubsub is None:
            return False
        deadline = time.monotonic() + timeout
        try:
            while True:
                message = self._pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is not None and self._take(message):
                    self._discard_pending()  # one poll answers all the wake-ups queued so far
                    return True
                if time.monotonic() >= deadline:
                    return False
        except (redis.RedisError, OSError) as exc:
            self._fail(exc)
            return False

    def sockets(self) -> list[socket.socket]:
        """The sockets the subscription reads from (for an event loop to watch)."""
        if self._pubsub is None:
            return []
        if isinstance(self._pubsub, ShardedPubSub):
            return self._pubsub.sockets()
        # redis-py offers no selectable handle of a PubSub: its connection's socket is the one.
        sock = getattr(getattr(self._pubsub, "connection", None), "_sock", None)
        return [] if sock is None else [sock]

    def close(self) -> None:
        """Drop the subscription and give its connection back."""
        pubsub, self._pubsub, self._channels = self._pubsub, None, frozenset()
        self._woken = False
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:
                logger.debug("closing the Redis wake-up subscription failed", exc_info=True)

    def _subscribe(self, channels: frozenset[str]) -> None:
        if self._pubsub is None:
            client = self._client
            self._pubsub = ShardedPubSub(client) if isinstance(client, RedisCluster) else client.pubsub()
            self._channels = frozenset()
        gone, new = self._channels - channels, channels - self._channels
        if gone:
            self._pubsub.unsubscribe(*gone)
        if new:
            self._pubsub.subscribe(*new)
            self._confirm(len(new))
        self._channels = channels

    def _confirm(self, count: int) -> None:
        # Until the server has processed the SUBSCRIBE, a PUBLISH would go unheard: wait for it.
        assert self._pubsub is not None
        deadline = time.monotonic() + CONFIRM_WITHIN
        while count > 0 and (remaining := deadline - time.monotonic()) > 0:
            message: dict[str, Any] | None = self._pubsub.get_message(timeout=remaining)
            if message is None:
                continue
            if message["type"] == "subscribe":
                count -= 1
            elif self._take(message):
                self._woken = True
        self._discarded = time.monotonic()

    def _discard_pending(self) -> bool:
        """Read every message already there (keeping fanout ones); return whether any was read."""
        assert self._pubsub is not None
        taken = False
        for _ in range(MAX_DISCARD):
            message = self._pubsub.get_message(timeout=0.0)
            if message is None:
                break
            taken = self._take(message) or taken
        self._discarded = time.monotonic()
        return taken

    def _take(self, message: dict[str, Any]) -> bool:
        """Keep a fanout message; return whether ``message`` is one, or a wake-up."""
        if message["type"] != "message":
            return False
        if message["channel"] in self._topics:
            self.received.append((message["channel"], message["data"]))
        return True

    def _fail(self, exc: BaseException) -> None:
        log = logger.debug if self._failing else logger.warning
        log("Redis wake-up subscription failed, polling every second until it is back: %s", exc)
        self._failing = True
        self._retry_at = time.monotonic() + RETRY_AFTER
        self.close()
