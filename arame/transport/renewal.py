"""Lease renewal on a thread of its own: a worker's held messages stay its own while it lives.

arame's Redis and SQL transports lease every message they hand out (``lease_seconds``, 5 s by
default); a message whose lease runs out is delivered again, which is how a dead worker's
messages come back. A living worker must therefore renew, whatever else it is doing: the
renewal runs on its own daemon thread, not on the draining thread, which can block (a slow
fetch, a reconnection, a long wait for a free slot). A task busy on the CPU in another thread
still lets it run: Python hands the GIL over every few milliseconds (``sys.getswitchinterval``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

RENEWALS_PER_LEASE = 3  # a lease is renewed every third of its length
RETRIES_PER_LEASE = 12  # after a failed renewal, the next try comes this much sooner
STOP_WAIT = 1.0  # seconds stop() waits for a renewal under way


class LeaseRenewer:
    """Renews the leases of every channel ``channels()`` returns, every third of a lease.

    Each channel renews all it holds in one round trip per queue (one Lua call on Redis, one
    ``UPDATE`` on SQL). A renewal that fails (broker unreachable) is tried again every
    twelfth of a lease until it succeeds.

    Args:
        lease_seconds: the lease length.
        channels: the channels holding leases now (called on the renewing thread).
    """

    def __init__(self, lease_seconds: float, channels: Callable[[], Iterable[Any]]) -> None:
        self.every = lease_seconds / RENEWALS_PER_LEASE
        self.retry_after = lease_seconds / RETRIES_PER_LEASE
        self._channels = channels
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        """Start renewing on a daemon thread (once; later calls do nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="arame-leases", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop renewing; wait (briefly) for a renewal under way, so none lands after a release."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_WAIT)

    def renew_now(self) -> bool:
        """Renew every channel's leases once; return whether all renewals went through."""
        ok = True
        for channel in list(self._channels()):
            try:
                channel.renew_leases()
            except Exception as exc:  # noqa: BLE001 - any failure: try again soon
                ok = False
                log = logger.debug if self._failing else logger.warning
                log("could not renew leases, trying again in %.1fs: %s", self.retry_after, exc)
        if ok and self._failing:
            logger.info("leases renewed again")
        self._failing = not ok
        return ok

    def _run(self) -> None:
        wait = self.every
        while not self._stop.wait(wait):
            wait = self.every if self.renew_now() else self.retry_after


class HeldLeases:
    """The channels of one subscriber that hold leased messages, and the thread renewing them.

    The current channel, and channels ``retire``\\ d when their connection was lost: their
    delivered messages may still be running here, so they stay leased, renewed and
    acknowledged through the old channel until none is left. Without that, a task running
    while its worker reconnects would lose its lease and run a second time elsewhere.
    Channels without leases (RabbitMQ, ``memory://``) are not watched.

    Args:
        renew: ``False`` lets the leases run out while held (a frozen holder, for tests).
    """

    def __init__(self, *, renew: bool = True) -> None:
        self._renew = renew
        self._current: Any = None
        self._retired: list[Any] = []
        self._renewer: LeaseRenewer | None = None

    def channels(self) -> list[Any]:
        """Every channel whose leases are renewed now."""
        current = self._current
        return [*self._retired, *([current] if current is not None else [])]

    def attach(self, channel: Any) -> None:
        """Renew what ``channel`` holds from now on (a new connection's channel)."""
        if not hasattr(channel, "renew_leases"):
            return
        self._current = channel
        if self._renewer is None and self._renew:
            self._renewer = LeaseRenewer(channel.lease_seconds, self.channels)
            self._renewer.start()

    def retire(self) -> None:
        """The current connection is about to be dropped: keep renewing what it delivered."""
        channel, self._current = self._current, None
        if channel is None:
            return
        try:
            channel.retire()
        except Exception as exc:  # noqa: BLE001 - what it could not give back returns with its lease
            logger.warning("could not give back undelivered messages: %s", exc)
        self._retired.append(channel)

    def flush(self) -> None:
        """Send the retired channels' acknowledgements; forget those that hold nothing more.

        Raises:
            Exception: the broker did not take them (they come back and are acknowledged unrun).
        """
        for channel in self._retired:
            channel.flush_acks()
        self._retired = [channel for channel in self._retired if not channel.holds_nothing]

    def release(self) -> None:
        """Stop renewing and give back what the retired channels hold (the subscriber closes)."""
        if self._renewer is not None:
            self._renewer.stop()
            self._renewer = None
        retired, self._retired, self._current = self._retired, [], None
        for channel in retired:
            channel.retiring = False
            try:
                channel.release_held()
            except Exception as exc:  # noqa: BLE001 - they return when their leases run out
                logger.warning("could not give back held messages: %s", exc)
