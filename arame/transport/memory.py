"""arame's ``memory://`` transport: Kombu's in-process queues, plus delayed messages.

For tests only. Everything lives in this process, delayed messages included: they do not survive
it, and another process never sees them. Idle consumers sleep until a message is put or the
earliest delayed one comes due, instead of Kombu's one-second polling.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from queue import Queue
from typing import Any, ClassVar

from kombu.transport import memory

from arame.transport.compressed import VirtualMessage
from arame.transport.delivery import not_before_of
from arame.transport.draining import drain_one
from arame.transport.exchanges import DeliveredExchanges
from arame.transport.without_loop import WithoutEventLoop

POLL_INTERVAL = 1.0  # seconds: the longest idle wait, in case a wake-up was missed


class Channel(DeliveredExchanges, memory.Channel):
    """Kombu's memory channel; a message with a future ``x-arame-not-before`` waits in a heap.

    Like Kombu's own queues, the heap is kept on the class: every connection in the process
    shares it.
    """

    #: Unacknowledged messages go back to their queue when the channel closes, as on a real
    #: broker (Kombu's memory channel drops them), so tests see the redelivery users will.
    do_restore = True
    Message = VirtualMessage  # a compressed body stays as it arrived (see compressed.py)
    transport_name = "memory"
    delivered_exchanges = frozenset({"direct", "topic", "fanout"})

    #: (due, sequence, queue, message), earliest due first, for every queue.
    delayed: ClassVar[list[tuple[float, int, str, dict[str, Any]]]] = []
    #: Notified (and ``generation`` bumped) whenever a message is put or requeued.
    changed: ClassVar[threading.Condition] = threading.Condition()
    generation: ClassVar[int] = 0
    _sequence: ClassVar[itertools.count[int]] = itertools.count()

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        due = not_before_of(message.get("headers"))
        with Channel.changed:
            if due is not None and due > time.time():
                heapq.heappush(Channel.delayed, (due, next(Channel._sequence), queue, message))
            else:
                super()._put(queue, message, **kwargs)
            Channel.generation += 1
            Channel.changed.notify_all()

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        release_due()
        message: dict[str, Any] = super()._get(queue)
        return message

    def _size(self, queue: str) -> int:
        release_due()  # due ones are ready, moved or not
        return int(super()._size(queue))

    def delayed_size(self, queue: str) -> int:
        """Messages of ``queue`` not yet due."""
        release_due()
        with Channel.changed:
            return sum(1 for entry in Channel.delayed if entry[2] == queue)

    def _purge(self, queue: str) -> int:
        """Delete the ready and the delayed messages of ``queue``; return how many."""
        return int(super()._purge(queue)) + _drop_delayed(queue)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        super()._delete(queue, *args, **kwargs)
        _drop_delayed(queue)


class Transport(WithoutEventLoop, memory.Transport):
    """Kombu's memory transport with delayed messages and wake-ups."""

    Channel = Channel
    loop_name = "memory"

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message; when there is none, sleep until one is put or comes due."""
        assert self.cycle is not None
        # The generation is read before the poll: a put after it ends the wait at once.
        drain_one(self.cycle, self._deliver, timeout, lambda: Channel.generation, _wait_for_change)


def _wait_for_change(seen: int, remaining: float | None) -> None:
    if release_due():
        return  # came due since the poll (or a full channel left it): poll again
    wait = min(POLL_INTERVAL, remaining if remaining is not None else POLL_INTERVAL, due_in())
    with Channel.changed:
        if Channel.generation == seen:
            Channel.changed.wait(wait)


def release_due() -> int:
    """Move every delayed message that has come due to the tail of its queue, earliest first.

    Returns:
        How many were moved.
    """
    now = time.time()
    moved = 0
    with Channel.changed:
        while Channel.delayed and Channel.delayed[0][0] <= now:
            _, _, queue, message = heapq.heappop(Channel.delayed)
            Channel.queues.setdefault(queue, Queue()).put(message)
            moved += 1
    return moved


def due_in() -> float:
    """Seconds until the earliest delayed message comes due (a poll interval when there is none)."""
    with Channel.changed:
        if not Channel.delayed:
            return POLL_INTERVAL
        return max(0.0, Channel.delayed[0][0] - time.time())


def reset_memory_transport() -> None:
    """Empty every ``memory://`` queue, delayed messages included.

    Kombu keeps them on the channel class, so they outlive ``Connection.close()`` and would
    leak from one test into the next.
    """
    with Channel.changed:
        memory.Channel.queues.clear()
        memory.Channel.events.clear()
        Channel.delayed.clear()


def _drop_delayed(queue: str) -> int:
    with Channel.changed:
        kept = [entry for entry in Channel.delayed if entry[2] != queue]
        dropped = len(Channel.delayed) - len(kept)
        Channel.delayed[:] = kept
        heapq.heapify(Channel.delayed)
    return dropped
