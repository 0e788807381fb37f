"""The flow-control tables: rate limits, concurrency slots, deduplication keys, fair sub-queues.

Created on first use, next to ``arame_results`` (a slot's liveness is read from its task's row).
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from arame.results.result_store import ResultStore

limits_metadata = sa.MetaData()

#: One row per rate-limited task (the GCRA state) and per concurrency key (a lock row).
limits = sa.Table(
    "arame_limits",
    limits_metadata,
    sa.Column("name", sa.String(64), primary_key=True, comment="task name, or a hash of task name and key"),
    sa.Column("tat", sa.Double, nullable=False, default=0.0, comment="theoretical arrival time, epoch s"),
    sa.Column("tail", sa.Double, nullable=False, default=0.0, comment="the last waiting start, epoch s"),
)

#: A running task's slot under its concurrency limit: at most ``limit`` rows per key.
slots = sa.Table(
    "arame_slots",
    limits_metadata,
    sa.Column("key", sa.String(64), primary_key=True, comment="a hash of task name and key value"),
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("task_id", sa.String(255), nullable=False),
    sa.Column("taken_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_arame_slots_task", "task_id"),
)

#: ``apply_async(dedup_key=...)``: the task that holds a key, and until when at least.
dedup = sa.Table(
    "arame_dedup",
    limits_metadata,
    sa.Column("key", sa.String(64), primary_key=True, comment="a hash of the dedup key"),
    sa.Column("task_id", sa.String(255), nullable=False),
    sa.Column("until", sa.Double, nullable=False),
)


#: Fair shares: the sub-queues of a queue that may hold tasks (see ``arame.subqueues``).
fair_queues = sa.Table(
    "arame_fair_queues",
    limits_metadata,
    sa.Column("queue", sa.String(255), primary_key=True, comment="the sub-queue"),
    sa.Column("parent", sa.String(255), nullable=False, comment="the queue it shares"),
    sa.Column("touched_at", sa.Double, nullable=False, comment="last publish to it, epoch s"),
    sa.Index("ix_arame_fair_queues_parent", "parent"),
)


def hashed(*parts: str) -> str:
    """A fixed-length primary key for any task name and key value (indexes have length limits)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:64]


def create_limit_tables(engine: sa.Engine, attempts: int = 3) -> None:
    """Create the flow-control tables that are missing.

    Another process (or another store in this one) may create them at the same moment: a CREATE
    that fails because of it is followed by another look, until every table exists.
    """
    for attempt in range(attempts):
        try:
            limits_metadata.create_all(engine, checkfirst=True)
            return
        except sa.exc.SQLAlchemyError:
            missing = [t for t in limits_metadata.sorted_tables if not sa.inspect(engine).has_table(t.name)]
            if not missing:
                return
            if attempt == attempts - 1:
                raise


class FlowTables:
    """Base of the stores that keep flow-control rows: the tables are created once, on first use.

    Args:
        store: the results store whose database holds the tables.
    """

    def __init__(self, store: ResultStore) -> None:
        self._store = store
        self._ready = False
        self._lock = threading.Lock()

    def _create(self) -> None:
        if self._ready:
            return
        with self._lock:
            create_limit_tables(self._store.engine)
        self._ready = True
