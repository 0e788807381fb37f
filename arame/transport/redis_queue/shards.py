"""Sharded pub/sub across a Redis Cluster, behind the few methods the wake-ups use of a PubSub."""

from __future__ import annotations

import selectors
import socket
import time
from collections import defaultdict
from typing import Any

import redis
from redis.client import PubSub
from redis.cluster import RedisCluster
from redis.crc import key_slot

#: Message types of sharded pub/sub, as the plain ones the wake-ups know.
PLAIN_TYPES = {"smessage": "message", "ssubscribe": "subscribe", "sunsubscribe": "unsubscribe"}


class ShardedPubSub:
    """SSUBSCRIBE to each channel on the master that owns its slot, one connection per master.

    A channel carries its queue's hash tag, so its slot is the queue's: wake-ups come from the
    shard that holds the queue. When a slot moves (a failover, a resharding) the server drops the
    subscription with an SUNSUBSCRIBE this object did not ask for: that is raised as a lost
    connection, and the caller subscribes again, on the new owner.

    Args:
        cluster: the cluster client whose view of the slots says where each channel lives.
    """

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._nodes: dict[str, PubSub] = {}  # node name -> its subscription
        self._owner: dict[str, str] = {}  # channel -> the node it is subscribed on
        self._leaving: set[str] = set()  # channels we unsubscribed, not yet confirmed

    def subscribe(self, *channels: str) -> None:
        """Subscribe to ``channels``, one SSUBSCRIBE per slot (a command may not cross slots)."""
        by_slot: dict[tuple[str, int], list[str]] = defaultdict(list)
        for channel in channels:
            node = self._cluster.get_node_from_key(channel)
            by_slot[node.name, key_slot(channel.encode())].append(channel)
        for (name, _), group in by_slot.items():
            pubsub = self._nodes.get(name)
            if pubsub is None:
                node = self._cluster.get_node(node_name=name)
                pubsub = self._nodes[name] = self._cluster.get_redis_connection(node).pubsub()
            pubsub.ssubscribe(*group)
            self._owner.update(dict.fromkeys(group, name))
            self._leaving.difference_update(group)

    def unsubscribe(self, *channels: str) -> None:
        """Stop listening to ``channels``."""
        by_slot: dict[tuple[str, int], list[str]] = defaultdict(list)
        for channel in channels:
            if (name := self._owner.pop(channel, None)) is not None:
                by_slot[name, key_slot(channel.encode())].append(channel)
        for (name, _), group in by_slot.items():
            self._leaving.update(group)
            self._nodes[name].sunsubscribe(*group)

    def get_message(self, timeout: float = 0.0) -> dict[str, Any] | None:
        """The next message from any node, as a plain PubSub would give it; wait up to ``timeout``.

        Raises:
            redis.ConnectionError: a node is gone, or dropped a subscription (its slot moved).
        """
        deadline = time.monotonic() + timeout
        while True:
            for pubsub in list(self._nodes.values()):
                message = pubsub.get_message(timeout=0.0)
                if message is not None:
                    return self._plain(message)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._wait_readable(remaining)

    def close(self) -> None:
        """Drop every subscription and give the connections back."""
        nodes, self._nodes = self._nodes, {}
        self._owner.clear()
        self._leaving.clear()
        for pubsub in nodes.values():
            pubsub.close()

    def _plain(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = PLAIN_TYPES.get(message["type"], message["type"])
        if kind == "unsubscribe":
            channel = message["channel"]
            if channel not in self._leaving:
                raise redis.ConnectionError(
                    f"the cluster dropped the subscription to {channel!r}: its slot moved"
                )
            self._leaving.discard(channel)
        return {**message, "type": kind}

    def sockets(self) -> list[socket.socket]:
        """The connected sockets of the subscriptions, one per node."""
        # redis-py offers no selectable handle of a PubSub: its connection's socket is the one.
        connections = [getattr(pubsub, "connection", None) for pubsub in self._nodes.values()]
        return [sock for conn in connections if (sock := getattr(conn, "_sock", None)) is not None]

    def _wait_readable(self, timeout: float) -> None:
        """Sleep until a subscription's socket has something to read, or ``timeout`` passes."""
        sockets = self.sockets()
        if len(sockets) < len(self._nodes) or not sockets:
            time.sleep(min(timeout, 0.05))  # a node not connected yet: look again shortly
            return
        with selectors.DefaultSelector() as selector:
            for sock in sockets:
                selector.register(sock, selectors.EVENT_READ)
            selector.select(timeout)
