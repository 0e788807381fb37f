"""Consuming through Kombu's event loop (``kombu.asynchronous.Hub``) instead of ``drain_events``.

Kombu's own Redis transport sends BRPOP and reads its answer when the socket is readable. Here a
fetch is a Lua script that leases what it takes, so the loop watches the pub/sub socket of the
wake-ups instead: a wake-up (or a fanout message) makes it readable, and the loop then fetches
without blocking. As in ``drain_events``, a fetch also happens when a delayed message comes due,
and once a second in any case (an expired lease sends no wake-up). The loop also renews the
leases of the messages this connection holds and sends the acknowledgements collected.
"""

from __future__ import annotations

import logging
import math
import socket
from queue import Empty
from typing import TYPE_CHECKING, Any

from arame.transport.broker_urls import DEFAULT_LEASE_SECONDS
from arame.transport.renewal import RENEWALS_PER_LEASE, LeaseRenewer

if TYPE_CHECKING:
    from arame.transport.redis_queue.transport import Transport

logger = logging.getLogger(__name__)

FALLBACK_POLL = 1.0  # seconds between fetches while no wake-up comes: expiring leases send none
MAX_PER_TURN = 100  # messages delivered in one turn of the loop, so other readers get their turn


class LoopDriver:
    """Feeds a Redis transport's consumers from an event loop (one per registration).

    Args:
        transport: the transport whose consumed queues it fetches from.
        loop: Kombu's ``Hub`` (or anything with its ``add_reader``, ``on_tick`` and timers).
    """

    def __init__(self, transport: Transport, loop: Any) -> None:
        self._transport = transport
        self._loop = loop
        self._ready = True  # a fetch may find something: nothing told us otherwise yet
        self._watched: dict[int, socket.socket] = {}  # fd -> the socket it was registered for
        self._due: Any = None  # the timer of the next delayed message, if any
        lease = min((channel.lease_seconds for channel in transport.channels), default=DEFAULT_LEASE_SECONDS)
        self._renewer = LeaseRenewer(lease, lambda: list(transport.channels))
        self._timers = [
            loop.call_repeatedly(FALLBACK_POLL, self._wake),
            loop.call_repeatedly(lease / RENEWALS_PER_LEASE, self._renewer.renew_now),
        ]
        loop.on_tick.add(self.on_tick)

    def stop(self) -> None:
        """Stop watching and fetching (the connection is closing or leaves the loop)."""
        self._loop.on_tick.discard(self.on_tick)
        for timer in [*self._timers, self._due]:
            if timer is not None:
                timer.cancel()
        for fd in self._watched:
            self._loop.remove_reader(fd)
        self._watched.clear()

    def on_tick(self) -> None:
        """Before each wait of the loop: send acks, follow the subscription, fetch if due."""
        transport = self._transport
        for channel in transport.channels:
            channel.flush_acks()
        subscribed = transport.watch()  # before the fetch: a message published after it wakes us
        self._follow(transport.subscription_sockets() if subscribed else [])
        if not subscribed:
            self._ready = True  # no wake-up will come: fetch at each turn
        self.on_readable()

    def on_readable(self, fd: int | None = None) -> None:
        """Read the wake-ups and fanout messages that arrived, then deliver what waits."""
        transport = self._transport
        if transport.take_wakeups():
            self._ready = True
        delivered = 0
        while delivered < MAX_PER_TURN and transport.deliver_fanout():
            delivered += 1
        if self._ready:
            self._fetch(MAX_PER_TURN - delivered)

    def _fetch(self, most: int) -> None:
        transport = self._transport
        assert transport.cycle is not None
        for _ in range(most):
            try:
                transport.cycle.get(transport._deliver, timeout=0)
            except Empty:
                transport.forget_idle()  # after the next wake-up, every queue is asked again
                break
        else:
            return  # there may be more: stay ready, the next turn fetches again
        # A full channel fetched nothing: its messages wait for an ack, which wakes no one.
        self._ready = any(
            channel._consumers and not channel.qos.can_consume() for channel in transport.channels
        )
        self._after(transport.until_due())

    def _after(self, seconds: float) -> None:
        """Fetch again in ``seconds`` (a delayed message comes due, a lease runs out)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        if math.isfinite(seconds) and seconds < FALLBACK_POLL:
            self._due = self._loop.call_later(seconds, self._wake)

    def _wake(self) -> None:
        self._ready = True

    def _follow(self, sockets: list[socket.socket]) -> None:
        """Watch exactly ``sockets``: a subscription made again has a new socket (maybe the same fd)."""
        current = {sock.fileno(): sock for sock in sockets}
        for fd, sock in list(self._watched.items()):
            if current.get(fd) is not sock:
                self._loop.remove_reader(fd)
                del self._watched[fd]
        for fd, sock in current.items():
            if fd not in self._watched:
                self._loop.add_reader(fd, self.on_readable, fd)
                self._watched[fd] = sock
