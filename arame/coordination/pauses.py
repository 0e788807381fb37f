"""Paused queues, kept as rows of ``arame_pauses`` so a pause outlives workers and brokers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from arame.coordination.registry_tables import SteeringTables, pauses


class Pauses:
    """Pause, resume and list paused queues in the results database.

    Args:
        tables: the steering tables of one results database.
    """

    def __init__(self, tables: SteeringTables) -> None:
        self._tables = tables

    def pause(self, queue: str) -> bool:
        """Pause ``queue``; return whether it was running until now."""
        store = self._tables.ensure()
        with store.transaction() as conn:
            known = conn.execute(sa.select(pauses.c.queue).where(pauses.c.queue == queue)).first()
            # Ignoring a duplicate: two pauses at once are one pause.
            conn.execute(store.insert_ignore(pauses), {"queue": queue, "paused_at": datetime.now(UTC)})
            return known is None

    def resume(self, queue: str) -> bool:
        """Resume ``queue``; return whether it was paused."""
        store = self._tables.ensure()
        with store.transaction() as conn:
            return bool(conn.execute(pauses.delete().where(pauses.c.queue == queue)).rowcount)

    def paused(self, queues: Sequence[str] | None = None) -> dict[str, datetime]:
        """The paused queues (among ``queues`` when given) and since when."""
        store = self._tables.readable()
        if store is None:
            return {}
        query = sa.select(pauses.c.queue, pauses.c.paused_at)
        if queues is not None:
            query = query.where(pauses.c.queue.in_(list(queues)))
        with store.connect() as conn:
            return {queue: _aware(at) for queue, at in conn.execute(query)}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
