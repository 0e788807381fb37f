"""What arame's own transports (Redis, SQL) share: batched fetches and batched acknowledgements."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sized
from typing import Any

from kombu.transport import virtual


class BatchedQoS(virtual.QoS):
    """Closing sends the acknowledgements still collected, then gives held messages back at once.

    The channel provides ``flush_acks()`` (send what was acknowledged since the last call) and
    ``release_held()`` (give back every message it holds, fetched in a batch or delivered).
    """

    def restore_unacked_once(self, stderr: Any = None) -> None:
        """On close, always: Kombu's version does nothing once every delivery was acknowledged.

        Then the acknowledgements still collected would never be sent (the messages would come
        back when their leases run out), and messages fetched in a batch but not yet delivered
        would stay leased.
        """
        if self.restore_at_shutdown and self.channel.do_restore:
            self.restore_unacked()

    def restore_unacked(self) -> list[Any]:
        self._flush()
        self.channel.flush_acks()
        self.channel.release_held()
        self._delivered.clear()
        return []


class LeaseHolding:
    """What a leasing channel (Redis, SQL) does with the messages it holds when it closes.

    The channel keeps ``_held`` (delivery tag -> what its ``_release`` needs) under ``_lock``,
    and ``_fetched`` (queue -> messages fetched in a batch, not yet handed to Kombu).
    """

    _held: dict[Any, Any]
    _fetched: Mapping[str, deque[Any]]
    _lock: threading.Lock
    retiring = False  # set by retire(): the connection is being replaced

    def release_held(self) -> None:
        """Give every held message back to its queue at once (the channel is closing).

        Not once ``retire()`` was called: what was delivered stays leased.
        """
        if self.retiring:
            return
        with self._lock:
            held, self._held = self._held, {}
        self._clear_fetched()
        self._release(held)

    def retire(self) -> None:
        """The connection is being replaced: give back only what was fetched and not delivered.

        The delivered messages may be running here: they stay held, renewed and acknowledged
        through this channel, as if the connection had never been lost.
        """
        self.retiring = True
        fetched = [self._tag_of(item) for batch in self._fetched.values() for item in batch]
        self._clear_fetched()
        with self._lock:
            held = {tag: self._held.pop(tag) for tag in fetched if tag in self._held}
        self._release(held)

    def _clear_fetched(self) -> None:
        for batch in self._fetched.values():
            batch.clear()

    def _tag_of(self, fetched: Any) -> Any:
        """The delivery tag of a message in ``_fetched``."""
        raise NotImplementedError

    def _release(self, held: dict[Any, Any]) -> None:
        """Give back ``held`` (a part of ``_held``) on the broker."""
        raise NotImplementedError


def fetch_count(qos: virtual.QoS, fetched: Mapping[str, Sized], most: int) -> int:
    """How many messages the next fetch may take: the prefetch's room, less those fetched already."""
    room = qos.can_consume_max_estimate() or 1
    buffered = sum(len(batch) for batch in fetched.values())
    return max(1, min(most, room - buffered))
