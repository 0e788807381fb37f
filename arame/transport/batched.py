"""What arame's own transports (Redis, SQL) share: batched fetches and batched acknowledgements."""

from __future__ import annotations

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


def fetch_count(qos: virtual.QoS, fetched: Mapping[str, Sized], most: int) -> int:
    """How many messages the next fetch may take: the prefetch's room, less those fetched already."""
    room = qos.can_consume_max_estimate() or 1
    buffered = sum(len(batch) for batch in fetched.values())
    return max(1, min(most, room - buffered))
