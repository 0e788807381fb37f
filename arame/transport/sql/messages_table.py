"""The ``arame_queue`` table and the engines that reach it (one per URL and process)."""

from __future__ import annotations

import functools
import logging
import os
import threading

import sqlalchemy as sa

from arame.database.engines import autocommit_engine, ping_when_idle
from arame.database.migrate import add_missing_indexes
from arame.database.schema import LongText, widen_mysql_text
from arame.database.sqlite import connect_sqlite

logger = logging.getLogger(__name__)

TABLE_NAME = "arame_queue"

metadata = sa.MetaData()

messages = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False, default=0, comment="0 lowest .. 9 highest"),
    sa.Column("not_before", sa.Double, comment="epoch seconds; NULL: deliverable now"),
    sa.Column("lease_until", sa.Double, comment="epoch seconds; NULL: not held by any consumer"),
    sa.Column("deliveries", sa.Integer, nullable=False, default=0),
    sa.Column("payload", LongText, nullable=False),
    # An idle consumer asks for the earliest future not_before of its queues: one index probe.
    sa.Index("ix_arame_queue_due", "queue", "not_before"),
)

# The fetch orders by priority DESC, id: an index in that order is walked, not sorted.
sa.Index("ix_arame_queue_next", messages.c.queue, messages.c.priority.desc(), messages.c.id)

_engines: dict[tuple[str, int], sa.Engine] = {}
_quick_engines: dict[tuple[str, int], sa.Engine] = {}
_engines_lock = threading.Lock()


def quick_engine_for(url: str) -> sa.Engine | None:
    """On PostgreSQL, the autocommit engine of ``url`` in this process (see ``autocommit_engine``)."""
    if not url.startswith("postgresql"):
        return None
    key = (url, os.getpid())
    engine = _quick_engines.get(key)
    if engine is None:
        engine_for(url)  # the table first
        with _engines_lock:
            engine = _quick_engines.get(key)
            if engine is None:
                engine = _quick_engines[key] = autocommit_engine(url)
    return engine


def engine_for(url: str) -> sa.Engine:
    """The engine of ``url`` in this process, created with the table on first use.

    Keyed by process id: a forked child never reuses its parent's sockets.
    """
    key = (url, os.getpid())
    engine = _engines.get(key)
    if engine is None:
        with _engines_lock:
            engine = _engines.get(key)
            if engine is None:
                engine = _engines[key] = _create_engine(url)
    return engine


def _create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(
            parsed, creator=functools.partial(connect_sqlite, parsed.database or "", autocommit=True)
        )
        # pysqlite starts transactions lazily and deferred; a fetch must take the write lock first
        # (BEGIN IMMEDIATE), or two fetchers deadlock upgrading their read locks.
        sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    elif backend in {"mysql", "mariadb"}:
        engine = ping_when_idle(sa.create_engine(parsed, isolation_level="READ COMMITTED"))
    else:
        engine = ping_when_idle(sa.create_engine(parsed))
    try:
        metadata.create_all(engine, checkfirst=True)
    except sa.exc.SQLAlchemyError:
        # Another process may have created it between the check and the CREATE.
        if not sa.inspect(engine).has_table(TABLE_NAME):
            raise
    _update_indexes(engine)
    widen_mysql_text(engine, messages)
    return engine


def _update_indexes(engine: sa.Engine) -> None:
    """Bring the indexes of a table made by an older arame up to date (create_all skips it).

    Older tables had ``ix_arame_queue_fetch`` with ``priority`` ascending, against the fetch's
    order: a deep queue's fetch sorted the whole queue. ``ix_arame_queue_next`` replaces it.
    """
    add_missing_indexes(engine, messages)
    if "ix_arame_queue_fetch" in {index["name"] for index in sa.inspect(engine).get_indexes(TABLE_NAME)}:
        try:
            old = sa.Table(TABLE_NAME, sa.MetaData(), sa.Column("queue", sa.String(255)))
            sa.Index("ix_arame_queue_fetch", old.c.queue).drop(engine)  # on a copy: not declared
        except sa.exc.SQLAlchemyError:  # another process dropped it first
            logger.debug("could not drop index ix_arame_queue_fetch", exc_info=True)
