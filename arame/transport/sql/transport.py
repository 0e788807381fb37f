"""arame's SQL transport: a Kombu virtual transport on one table, with leases.

Kombu's stock SQL transport hides a row for good once fetched, never deletes rows and polls once
a second. Here a fetch *leases* its row (``lease_until``); the lease is renewed while the message
is held, the row is deleted on ack, released on requeue or close, and an expired lease (its
consumer died) makes the row deliverable again. PostgreSQL and MySQL/MariaDB fetch with
``FOR UPDATE SKIP LOCKED`` so consumers never queue behind one row; PostgreSQL wakes idle
consumers with ``LISTEN/NOTIFY``; the others poll with a backoff from 1 ms.

A delayed message is a row whose ``not_before`` is in the future: the fetch skips it until then.
An idle consumer learns the earliest ``not_before`` of its queues (see ``DueTimes``) and wakes
for it, so a delayed message is fetched within milliseconds of its time, without a NOTIFY.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from kombu.transport import virtual

from arame.transport.draining import MAX_IDLE_POLL, Backoff, drain_one, nothing
from arame.transport.sql.channel import NOTIFY_CHANNEL, Channel
from arame.transport.sql.due import DueTimes
from arame.transport.sql.listener import Listener
from arame.transport.without_loop import WithoutEventLoop

logger = logging.getLogger(__name__)

LISTEN_FALLBACK_POLL = 1.0


class Transport(WithoutEventLoop, virtual.Transport):
    """Kombu transport class for ``sqla+`` and bare database URLs."""

    Channel = Channel
    loop_name = "SQL"
    driver_type = "sql"
    driver_name = "sqlalchemy"
    # A lost or restarted database is a connection error: Kombu reconnects and retries.
    connection_errors: Any = (
        *virtual.Transport.connection_errors,
        sa.exc.OperationalError,
        sa.exc.InterfaceError,
    )
    channel_errors: Any = (*virtual.Transport.channel_errors, sa.exc.DBAPIError)

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._listener: Listener | None = None
        self._due = DueTimes(self._next_due)

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message; between empty polls wait for a NOTIFY, or back off from 1 ms.

        Either wait ends early when a delayed message of the consumed queues comes due.
        """
        listener = self._listen()
        for channel in self.channels:
            channel.flush_acks()
        assert self.cycle is not None
        backoff = Backoff()

        def wait(_: None, remaining: float | None) -> None:
            for channel in self.channels:
                channel.forget_drained()
            # Leases expiring send no NOTIFY: poll at least this often.
            longest = LISTEN_FALLBACK_POLL if listener is not None else MAX_IDLE_POLL
            step = min(longest, self._due.seconds_until(self._consumed()))
            step = step if remaining is None else min(step, remaining)
            if listener is not None:
                if listener.wait(step):
                    self._due.forget()  # the new row may be due sooner than the one we knew of
            else:
                backoff.sleep(step)

        drain_one(self.cycle, self._deliver, timeout, nothing, wait)

    def _consumed(self) -> list[str]:
        return sorted({queue for channel in self.channels for queue in channel._active_queues})

    def _next_due(self, queues: list[str]) -> float | None:
        return self.channels[0].next_due(queues) if self.channels else None

    def _listen(self) -> Listener | None:
        url = self.client.hostname if self.client is not None else ""
        # listen=False: behind a pooler in transaction mode (PgBouncer) a LISTEN is left on a
        # server connection other clients then borrow, and the NOTIFYs never reach us.
        wanted = self.client is not None and self.client.transport_options.get("listen", True)
        if self._listener is None and wanted and url.startswith("postgresql"):
            self._listener = Listener(url, NOTIFY_CHANNEL)
        return self._listener

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
