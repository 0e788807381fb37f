"""The Redis data model of arame's queues: key names, and one method per atomic operation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from redis.cluster import RedisCluster

from arame.message import MAX_PRIORITY
from arame.transport.redis_queue import scripts
from arame.transport.redis_queue.client import Client

PREFIX = "arame"
RECLAIM_PER_FETCH = 100  # bounds one fetch's work when many leases ran out at once
PROMOTE_PER_FETCH = 100  # bounds one fetch's work when many delayed messages came due at once


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message taken from a queue under a lease.

    Attributes:
        tag: its id in the queue (also its Kombu delivery tag).
        payload: the Kombu message, JSON.
        deliveries: how many times it has been fetched, this time included.
    """

    tag: str
    payload: str
    deliveries: int


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing to fetch in a queue.

    Attributes:
        wake_in: milliseconds until a delayed message comes due or a lease runs out there,
            whichever is first; ``None`` when neither will happen without a new message.
    """

    wake_in: int | None


@lru_cache(maxsize=4096)
def queue_keys(queue: str) -> tuple[str, ...]:
    """The keys of ``queue`` in the order the scripts expect (see ``scripts``).

    The queue name sits in braces: in a Redis Cluster all of a queue's keys share one slot.
    """
    base = queue_prefix(queue)
    ready = tuple(f"{base}:ready:{priority}" for priority in range(MAX_PRIORITY, -1, -1))
    return (
        f"{base}:leases",
        f"{base}:payloads",
        f"{base}:deliveries",
        *ready,
        f"{base}:delayed",
        f"{base}:returned",
    )


def queue_prefix(queue: str) -> str:
    """What every key of ``queue`` starts with (``scripts.FETCH_MANY`` names the keys from it)."""
    return f"{PREFIX}:{{{queue}}}"


def new_tag(priority: int) -> str:
    """A fresh message id: its priority (0 lowest .. 9 highest) as the first digit, then the time.

    Tags of one priority sort by publish time (then at random), which keeps messages given back
    to the queue in the order they were published.
    """
    return f"{min(max(priority, 0), MAX_PRIORITY)}:{time.time_ns():016x}{uuid.uuid4().hex[:16]}"


class QueueStore:
    """arame's queues in one Redis database.

    Args:
        client: a client (of one server or a cluster) with ``decode_responses=True``.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        #: A Redis Cluster: one database, wake-ups by sharded pub/sub.
        self.sharded = isinstance(client, RedisCluster)
        self._db = (
            0
            if isinstance(client, RedisCluster)
            else int(client.connection_pool.connection_kwargs.get("db", 0))
        )
        wakes = scripts.sharded if self.sharded else str
        self._put = client.register_script(wakes(scripts.PUT))
        self._fetch = client.register_script(scripts.FETCH)
        self._fetch_many = client.register_script(scripts.FETCH_MANY)
        self._ack_many = client.register_script(scripts.ACK_MANY)
        self._ack = client.register_script(scripts.ACK)
        self._release = client.register_script(wakes(scripts.RELEASE))
        self._renew = client.register_script(scripts.RENEW)
        self._size = client.register_script(scripts.SIZE)
        self._delayed_size = client.register_script(scripts.DELAYED_SIZE)
        self._purge = client.register_script(scripts.PURGE)

    def wake_channel(self, queue: str) -> str:
        """The pub/sub channel told of new messages in ``queue``.

        Pub/sub ignores database numbers, so the channel names the database: consumers of a queue
        with the same name in another database are not woken for nothing.
        """
        return f"{PREFIX}:{self._db}:{{{queue}}}:wake"

    def ping(self) -> None:
        """Raise unless the server answers (on a cluster: the node that told the client the slots).

        Not every node of a cluster: one being replaced after a failure would fail the ping while
        every queue is served.
        """
        if isinstance(self.client, RedisCluster):
            self.client.ping(target_nodes=RedisCluster.DEFAULT_NODE)
        else:
            self.client.ping()

    def put(self, queue: str, tag: str, payload: str, delay_ms: int = 0) -> None:
        """Store a message and queue it behind the others of its priority.

        Args:
            queue: its queue.
            tag: its id (see ``new_tag``).
            payload: the Kombu message, JSON.
            delay_ms: when positive, it is held that long (by the server's clock) first.
        """
        self._put(queue_keys(queue), [tag, payload, self.wake_channel(queue), max(0, delay_ms)])

    def put_many(self, puts: Sequence[tuple[str, str, str, int]]) -> None:
        """``put`` each (queue, tag, payload, delay_ms), in order, in one pipelined round trip (on a
        cluster, one after the other: the queues may live on different nodes)."""
        if self.sharded:
            for put in puts:
                self.put(*put)
            return
        pipeline = self.client.pipeline(transaction=False)
        for queue, tag, payload, delay in puts:
            self._put(
                queue_keys(queue), [tag, payload, self.wake_channel(queue), max(0, delay)], client=pipeline
            )
        pipeline.execute()

    def fetch(self, queue: str, lease_ms: int, count: int = 1) -> list[Fetched] | Idle:
        """Take up to ``count`` messages, highest priority first, each leased for ``lease_ms``."""
        found: Any = self._fetch(queue_keys(queue), [lease_ms, RECLAIM_PER_FETCH, PROMOTE_PER_FETCH, count])
        if not isinstance(found, list):
            return Idle(None if int(found) < 0 else int(found))
        return [Fetched(found[i], found[i + 1], int(found[i + 2])) for i in range(0, len(found), 3)]

    def fetch_many(self, queues: Sequence[str], lease_ms: int, count: int) -> list[list[Fetched] | Idle]:
        """``fetch`` from several queues in one round trip: up to ``count`` messages over them all,
        an even share from each first, the queues visited in the order given.

        Not on a cluster, whose queues live in different slots.

        Returns:
            For each queue visited, in order, what it gave (or how it is idle); the queues after
            the last visited were not looked at: enough was taken before them.
        """
        prefixes = [queue_prefix(queue) for queue in queues]
        found: Any = self._fetch_many(prefixes, [lease_ms, RECLAIM_PER_FETCH, PROMOTE_PER_FETCH, count])
        per_queue: list[list[Fetched] | Idle] = []
        at = 1
        for _ in range(int(found[0])):
            given = int(found[at])
            if given == 0:
                wake_in = int(found[at + 1])
                per_queue.append(Idle(None if wake_in < 0 else wake_in))
                at += 2
                continue
            at += 1
            messages = range(at, at + 3 * given, 3)
            per_queue.append([Fetched(found[i], found[i + 1], int(found[i + 2])) for i in messages])
            at += 3 * given
        return per_queue

    def ack_many(self, acked: dict[str, list[str]]) -> None:
        """``ack`` the tags of each queue, in one call (on a cluster, one queue after the other: the
        queues may live on different nodes)."""
        acked = {queue: tags for queue, tags in acked.items() if tags}
        if self.sharded or len(acked) < 2:
            for queue, tags in acked.items():
                self.ack(queue, tags)
            return
        keys = [key for queue in acked for key in queue_keys(queue)[:3]]
        counted: list[str | int] = []
        for tags in acked.values():
            counted += [len(tags), *tags]
        self._ack_many(keys, counted)

    def ack(self, queue: str, tags: Sequence[str]) -> None:
        """Delete messages for good."""
        if tags:
            self._ack(queue_keys(queue), list(tags))

    def release(self, queue: str, held: Iterable[tuple[str, int]]) -> int:
        """Put messages back ahead of their lists, in publish order; return how many were still ours.

        Args:
            queue: their queue.
            held: pairs of tag and the delivery count seen when it was fetched.
        """
        args = _pairs(held)
        if not args:
            return 0
        return int(self._release(queue_keys(queue), [self.wake_channel(queue), *args]))

    def renew(self, queue: str, held: Iterable[tuple[str, int]], lease_ms: int) -> list[str]:
        """Extend leases to ``lease_ms`` from now; return the tags whose lease was already lost.

        Args:
            queue: their queue.
            held: pairs of tag and the delivery count seen when it was fetched.
            lease_ms: the new lease length.
        """
        args = _pairs(held)
        if not args:
            return []
        return list(self._renew(queue_keys(queue), [lease_ms, *args]))

    def size(self, queue: str) -> int:
        """Messages ready to be fetched (not counting those under a live lease)."""
        return int(self._size(queue_keys(queue)))

    def sizes(self, queues: Sequence[str]) -> list[int]:
        """``size`` of each queue, in one round trip."""
        pipeline = self.client.pipeline(transaction=False)
        for queue in queues:
            self._size(queue_keys(queue), client=pipeline)
        return [int(n) for n in pipeline.execute()]

    def delayed_size(self, queue: str) -> int:
        """Messages not yet due."""
        return int(self._delayed_size(queue_keys(queue)))

    def purge(self, queue: str) -> int:
        """Delete the ready and the delayed messages; return how many there were."""
        return int(self._purge(queue_keys(queue)))

    def delete(self, queue: str) -> None:
        """Delete every message of ``queue``, leased ones included."""
        self.client.delete(*queue_keys(queue))


def _pairs(held: Iterable[tuple[str, int]]) -> list[str | int]:
    return [item for tag, deliveries in held for item in (tag, deliveries)]
