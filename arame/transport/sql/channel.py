"""The SQL transport's Kombu channel: put, fetch under a lease, ack in batches, sizes."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from queue import Empty
from typing import Any

import sqlalchemy as sa
from kombu.transport import virtual
from kombu.utils.json import dumps

from arame.transport.batched import BatchedQoS, LeaseHolding, fetch_count
from arame.transport.broker_urls import DEFAULT_LEASE_SECONDS
from arame.transport.compressed import VirtualMessage
from arame.transport.delivery import DELIVERIES, not_before_of
from arame.transport.exchanges import DeliveredExchanges
from arame.transport.sql import queue_counts
from arame.transport.sql.messages_table import engine_for, messages, quick_engine_for
from arame.transport.sql.pg_store import store_and_notify
from arame.transport.stored_messages import read_envelope

logger = logging.getLogger(__name__)

LEASE_SECONDS = DEFAULT_LEASE_SECONDS
MAX_FETCH = 100  # rows one fetch may lease, within what the prefetch allows
NOTIFY_CHANNEL = "arame_queue"


def _due(queue: Any, now: Any) -> sa.Select[Any]:
    """The ids of ``queue`` that may be fetched at ``now``, in fetch order, locked (skipping locked ones)."""
    return (
        sa.select(messages.c.id)
        .where(
            messages.c.queue == queue,
            sa.or_(messages.c.lease_until.is_(None), messages.c.lease_until < now),
            sa.or_(messages.c.not_before.is_(None), messages.c.not_before <= now),
        )
        .order_by(messages.c.priority.desc(), messages.c.id)
        .with_for_update(skip_locked=True)
    )


# PostgreSQL's fetch and ack, built once: building a statement costs more Python than running it.
LEASE_DUE = (
    messages.update()
    .where(
        messages.c.id.in_(
            _due(sa.bindparam("b_queue"), sa.bindparam("b_now"))
            .limit(sa.bindparam("b_limit"))
            .scalar_subquery()
        )
    )
    .values(lease_until=sa.bindparam("v_lease_until"), deliveries=messages.c.deliveries + 1)
    .returning(messages.c.id, messages.c.payload, (messages.c.deliveries - 1).label("deliveries"))
)
DELETE_ACKED = messages.delete().where(messages.c.id == sa.func.any(sa.bindparam("b_ids")))


class QoS(BatchedQoS):
    """Acks delete the row, requeues and close release its lease."""

    def ack(self, delivery_tag: Any) -> None:
        self.channel._acknowledge(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        self.channel._settle(delivery_tag, delete=not requeue)
        self._quick_ack(delivery_tag)


class Channel(LeaseHolding, DeliveredExchanges, virtual.Channel):
    """One consumer's or producer's view of the queue table."""

    QoS = QoS
    Message = VirtualMessage  # a compressed body stays as it arrived (see compressed.py)
    transport_name = "SQL"

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.lease_seconds = float(connection.client.transport_options.get("lease_seconds", LEASE_SECONDS))
        self._url = connection.client.hostname
        self._held: dict[Any, int] = {}  # delivery tag -> row id
        # Leased in a batch (so also held), not yet handed to Kombu.
        self._fetched: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._acked: list[int] = []  # row ids acknowledged, not yet deleted
        self._drained: set[str] = set()  # queues a fetch emptied since the consumer last waited
        self._lock = threading.Lock()  # guards _held: the renewing thread reads it
        self._batch: list[dict[str, Any]] | None = None  # rows put inside batched_puts()

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self._url)

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self.engine  # noqa: B018 - creates the table on first use

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return True

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        properties = message.get("properties", {})
        headers = message.get("headers") or {}
        row = {
            "queue": queue,
            "priority": int(properties.get("priority") or 0),
            "not_before": not_before_of(headers),  # the NOT_BEFORE header, set by a delayed publish
            "deliveries": 0,
            "payload": dumps(message),
        }
        if self._batch is not None:
            self._batch.append(row)
        else:
            self._insert([row])

    @contextmanager
    def batched_puts(self) -> Iterator[None]:
        """Store the messages published in the block together, at its end: one transaction (and
        one disk flush) for all of them, so all of them are stored or none."""
        self._batch = []
        try:
            yield
            rows = self._batch
        finally:
            self._batch = None
        if rows:
            self._insert(rows)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if self.engine.dialect.name == "postgresql":
            store_and_notify(self.engine, rows, NOTIFY_CHANNEL)
            return
        with self.engine.begin() as conn:
            conn.execute(messages.insert(), rows)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        fetched = self._fetched[queue]
        if not fetched:
            if queue in self._drained:
                raise Empty()  # asked again after the next wait (see ``forget_drained``)
            fetched.extend(self._fetch(queue))
        return fetched.popleft()

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        self._drained.discard(queue)  # a get asks the table, whatever an earlier fetch found
        return super().basic_get(queue, no_ack=no_ack, **kwargs)

    def forget_drained(self) -> None:
        """Every consumed queue looked empty, and the consumer waits now: after that wait (a
        NOTIFY, a due time, the fallback poll) each queue is asked again."""
        self._drained.clear()

    def _fetch(self, queue: str) -> list[dict[str, Any]]:
        """Lease as many due rows as the prefetch allows, in one transaction."""
        now = time.time()
        limit = fetch_count(self.qos, self._fetched, MAX_FETCH)
        quick = quick_engine_for(self._url)
        if quick is not None:
            # PostgreSQL: one statement, one round trip. A lease lost in a database crash only
            # makes the row deliverable again, so it does not wait for the disk.
            params = {
                "b_queue": queue,
                "b_now": now,
                "b_limit": limit,
                "v_lease_until": now + self.lease_seconds,
            }
            with quick.connect() as conn:
                found = list(conn.execute(LEASE_DUE, params))
            found.sort(key=lambda row: row.id)  # RETURNING has no order; fetch order is close enough
        else:
            due = _due(queue, now).limit(limit)
            lease = {"lease_until": now + self.lease_seconds, "deliveries": messages.c.deliveries + 1}
            with self.engine.begin() as conn:
                found = list(conn.execute(due.add_columns(messages.c.payload, messages.c.deliveries)))
                if found:
                    conn.execute(
                        messages.update().where(messages.c.id.in_([row.id for row in found])).values(lease)
                    )
        if len(found) < limit:
            # Emptied by this fetch: the next look waits for a NOTIFY (or the poll without one), so
            # that a consumer running what it fetched does not ask an empty table after each one.
            self._drained.add(queue)
        if not found:
            raise Empty()
        return [self._payload(row, queue) for row in found]

    def _payload(self, row: Any, queue: str) -> dict[str, Any]:
        payload = read_envelope(row.payload, queue)
        properties = payload.setdefault("properties", {})
        properties.setdefault("delivery_info", {})["redelivered"] = row.deliveries > 0
        properties[DELIVERIES] = row.deliveries + 1
        # Kombu gave it a tag at publish; a row written by hand may have none.
        tag = properties.setdefault("delivery_tag", f"arame-row-{row.id}")
        with self._lock:
            self._held[tag] = row.id
        return payload

    def _acknowledge(self, delivery_tag: Any) -> None:
        with self._lock:
            row_id = self._held.pop(delivery_tag, None)
        if row_id is not None:
            self._acked.append(row_id)  # deleted by the next flush_acks()

    def flush_acks(self) -> None:
        """Delete the rows acknowledged since the last call, in one transaction.

        Until then an acknowledged row is only leased; if this process dies first, it comes back
        when the lease runs out, and the worker finds its task already finished.
        """
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        quick = quick_engine_for(self._url)  # PostgreSQL: a lost delete only brings a finished task back
        if quick is not None:
            with quick.connect() as conn:
                conn.execute(DELETE_ACKED, {"b_ids": acked})  # one statement text whatever the count
            return
        with self.engine.begin() as conn:
            conn.execute(messages.delete().where(messages.c.id.in_(acked)))

    def _settle(self, delivery_tag: Any, *, delete: bool) -> None:
        with self._lock:
            row_id = self._held.pop(delivery_tag, None)
        if row_id is None:
            return
        statement = messages.delete() if delete else messages.update().values(lease_until=None)
        with self.engine.begin() as conn:
            conn.execute(statement.where(messages.c.id == row_id))

    def _tag_of(self, fetched: dict[str, Any]) -> Any:
        return fetched["properties"]["delivery_tag"]

    def _release(self, held: dict[Any, int]) -> None:
        if held:
            with self.engine.begin() as conn:
                conn.execute(
                    messages.update().where(messages.c.id.in_(list(held.values()))).values(lease_until=None)
                )

    @property
    def holds_nothing(self) -> bool:
        """Whether no row is held here and no acknowledgement waits to be sent."""
        return not self._held and not self._acked

    def renew_leases(self) -> None:
        """Push the lease of every held row forward, in one ``UPDATE``.

        Called by the renewing thread (see ``LeaseRenewer``) every third of a lease.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database did not answer; the caller tries again soon.
        """
        with self._lock:
            held = list(self._held.values())
        if not held:
            return
        with self.engine.begin() as conn:
            conn.execute(
                messages.update()
                .where(messages.c.id.in_(held))
                .values(lease_until=time.time() + self.lease_seconds)
            )

    def _size(self, queue: str) -> int:
        """Rows ready to fetch: not leased (or the lease ran out) and due."""
        return queue_counts.ready(self.engine, queue)

    def delayed_size(self, queue: str) -> int:
        """Rows of ``queue`` not yet due."""
        return queue_counts.delayed(self.engine, queue)

    def next_due(self, queues: Iterable[str]) -> float | None:
        """The earliest future ``not_before`` among ``queues`` (epoch seconds), or ``None``."""
        return queue_counts.next_due(self.engine, queues)

    def _purge(self, queue: str) -> int:
        """Delete the rows no consumer holds, delayed ones included; return how many."""
        now = time.time()
        with self.engine.begin() as conn:
            deleted = conn.execute(
                messages.delete().where(
                    messages.c.queue == queue,
                    sa.or_(messages.c.lease_until.is_(None), messages.c.lease_until < now),
                )
            )
        return int(deleted.rowcount)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(messages.delete().where(messages.c.queue == queue))
