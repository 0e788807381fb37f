"""The tables that steer workers: ``arame_workers`` (who is consuming) and ``arame_pauses``.

They live in the results database beside ``arame_results``, are created on first use and, like
it, gain the columns a newer arame declares in place (never dropped).
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from arame.database import LongText, add_missing_columns
from arame.results.result_store import ResultStore

metadata = sa.MetaData()

_Timestamp = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

workers = sa.Table(
    "arame_workers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True, comment="uuid4 hex, one per worker run"),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("queues", LongText, comment="JSON list of queue names"),
    sa.Column("pool", sa.String(16)),
    sa.Column("concurrency", sa.Integer),
    sa.Column("started_at", _Timestamp),
    sa.Column("heartbeat_at", _Timestamp),
    sa.Column("version", sa.String(64), comment="arame's version"),
    sa.Column("children", LongText, comment="JSON list of process-pool child pids"),
)

pauses = sa.Table(
    "arame_pauses",
    metadata,
    sa.Column("queue", sa.String(255), primary_key=True),
    sa.Column("paused_at", _Timestamp),
)


class SteeringTables:
    """Creates (and upgrades) the steering tables once per store, on first use."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self) -> ResultStore:
        """The store, its steering tables created and up to date."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    _create(self.store.engine)
                    self._ready = True
        return self.store

    def readable(self) -> ResultStore | None:
        """The store for a read: ``None`` when a reader's store finds the tables missing (nothing
        to read, and a reader creates none)."""
        if self.store.creates_tables:
            return self.ensure()
        with self.store.connect() as conn:
            inspector = sa.inspect(conn)
            if all(inspector.has_table(table.name) for table in metadata.tables.values()):
                return self.store
        return None


def _create(engine: sa.Engine) -> None:
    try:
        metadata.create_all(engine, checkfirst=True)
    except sa.exc.SQLAlchemyError:
        # Another process may have created one between the check and the CREATE.
        if not all(sa.inspect(engine).has_table(table.name) for table in metadata.tables.values()):
            raise
    for table in metadata.tables.values():
        add_missing_columns(engine, table)
