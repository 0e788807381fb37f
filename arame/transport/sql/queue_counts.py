"""What the queue table holds per queue: the messages ready, the delayed ones, the next due time."""

from __future__ import annotations

import time
from collections.abc import Iterable

import sqlalchemy as sa

from arame.transport.sql.messages_table import messages


def ready(engine: sa.Engine, queue: str) -> int:
    """Rows ready to fetch: not leased (or the lease ran out) and due."""
    now = time.time()
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    messages.c.queue == queue,
                    sa.or_(messages.c.lease_until.is_(None), messages.c.lease_until < now),
                    sa.or_(messages.c.not_before.is_(None), messages.c.not_before <= now),
                )
            ).scalar_one()
        )


def delayed(engine: sa.Engine, queue: str) -> int:
    """Rows of ``queue`` not yet due."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    messages.c.queue == queue, messages.c.not_before > time.time()
                )
            ).scalar_one()
        )


def next_due(engine: sa.Engine, queues: Iterable[str]) -> float | None:
    """The earliest future ``not_before`` among ``queues`` (epoch seconds), or ``None``."""
    names = list(queues)
    if not names:
        return None
    with engine.connect() as conn:
        due = conn.execute(
            sa.select(sa.func.min(messages.c.not_before)).where(
                messages.c.queue.in_(names), messages.c.not_before > time.time()
            )
        ).scalar_one()
    return None if due is None else float(due)
