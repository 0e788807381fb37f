"""The results database's engines and transactions: opened lazily, again after a fork, errors
reported as ResultStoreError."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from arame.database import (
    add_missing_columns,
    add_missing_indexes,
    autocommit_engine,
    connect_sqlite,
    ping_when_idle,
    redact_url,
    widen_mysql_text,
)
from arame.errors import NoResultsTable, ResultStoreError
from arame.results.driver_connections import DirectConnections
from arame.results.notices import Notices
from arame.results.results_table import metadata, results


class ResultDatabase:
    """The connections to one results database: the plumbing under ResultStore's verbs.

    Safe to share between threads, and used again after a fork (the child opens its own
    connections). The table is created on first use.

    Args:
        url: an SQLAlchemy URL with its driver (``postgresql+psycopg://…``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.safe_url = redact_url(sa.make_url(url).render_as_string(hide_password=True))
        self._engine: sa.Engine | None = None
        self._quick_engine: sa.Engine | None = None  # PostgreSQL: autocommit, no wait for the disk
        self._pid = 0
        self._table_ready = False
        self._lock = threading.Lock()
        self._notices: Notices | None = None
        self._direct: tuple[DirectConnections, DirectConnections] | None = None  # (quick, durable)
        #: ``False`` for a reader (``arame result``, ``arame workers``): a missing table is reported,
        #: never created.
        self.creates_tables = True

    def close(self) -> None:
        """Close every pooled connection."""
        for engine in {self._engine, self._quick_engine} - {None}:
            assert engine is not None
            engine.dispose()
        self._engine = self._quick_engine = None
        for direct in self._direct or ():
            direct.close()
        self._direct = None
        if self._notices is not None:
            self._notices.close()

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection in a transaction, committed on exit; errors become ResultStoreError."""
        with self._reporting("could not write to"), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect_for_writes(self) -> Iterator[sa.Connection]:
        """A durable connection whose transactions the caller begins and ends; errors become
        ResultStoreError."""
        with self._reporting("could not write to"), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reads; errors become ResultStoreError."""
        with self._reporting("could not read from"), self.quick_engine.connect() as conn:
            yield conn

    @contextmanager
    def quick(self) -> Iterator[sa.Connection]:
        """A connection whose every statement commits by itself (PostgreSQL: without waiting
        for the disk); errors become ResultStoreError."""
        with self._reporting("could not write to"), self.quick_engine.connect() as conn:
            yield conn

    def direct(self, *, durable: bool) -> DirectConnections | None:
        """PostgreSQL: driver connections for the per-task statements (see direct.py), whose
        statements commit by themselves, waiting for the disk only if ``durable``; elsewhere ``None``.
        """
        if self.engine.dialect.name != "postgresql":
            return None
        if self._direct is None:
            with self._lock:
                if self._direct is None:
                    waits = sa.create_engine(
                        self.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
                    )
                    self._direct = (
                        DirectConnections(lambda: _planned_once(self.quick_engine), self._driver_error),
                        DirectConnections(lambda: _planned_once(waits), self._driver_error),
                    )
        return self._direct[1] if durable else self._direct[0]

    def _driver_error(self, exc: BaseException, reading: bool) -> ResultStoreError:
        what = "could not read from" if reading else "could not write to"
        return self._error(what, exc, refused=_refused_by_driver(exc))

    @property
    def notices(self) -> Notices | None:
        """PostgreSQL: the listener that wakes this process's result waits; elsewhere ``None``."""
        if self.engine.dialect.name != "postgresql":
            return None
        if self._notices is None:
            self._notices = Notices(self._listening_connection)
        return self._notices

    def _listening_connection(self) -> Any:
        return _detached(self.quick_engine)  # autocommit

    @contextmanager
    def _reporting(self, what: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(what, exc) from exc

    @property
    def engine(self) -> sa.Engine:
        """The engine, created (with the table) on first use and again in a forked child."""
        if self._engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    self._engine = self._create_engine()
                    self._quick_engine = self._create_quick_engine(self._engine)
                    self._pid = os.getpid()
        return self._engine

    @property
    def quick_engine(self) -> sa.Engine:
        """For single statements: on PostgreSQL an autocommit engine that skips BEGIN, COMMIT
        and the wait for the disk (one round trip instead of three or four); elsewhere ``engine``.

        Only for writes that the system repairs after a database crash (a PENDING row, a claim)
        and for reads. Outcomes always commit durably, through ``engine``.
        """
        self.engine  # noqa: B018 - creates both, in this process
        assert self._quick_engine is not None
        return self._quick_engine

    def _create_quick_engine(self, engine: sa.Engine) -> sa.Engine:
        if engine.dialect.name != "postgresql":
            return engine  # SQLite runs in-process; MySQL would pay a round trip to switch autocommit
        return autocommit_engine(self.url)

    def _create_engine(self) -> sa.Engine:
        url = sa.make_url(self.url)
        try:
            if url.get_backend_name() == "sqlite":
                engine = _sqlite_engine(url)
            elif url.get_backend_name() in {"mysql", "mariadb"}:
                # Reads see the newest commit, not a snapshot from the transaction's start.
                engine = ping_when_idle(sa.create_engine(url, isolation_level="READ COMMITTED"))
            else:
                engine = ping_when_idle(sa.create_engine(url))
            if not self._table_ready and self.creates_tables:
                _create_table(engine)
                self._table_ready = True
            missing = not self._table_ready and not sa.inspect(engine).has_table(results.name)
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise self._error("could not open", exc) from exc
        if missing:
            engine.dispose()
            raise NoResultsTable(
                f"no results table ({results.name}) in {self.safe_url}: nothing was recorded there yet",
                url=self.safe_url,
            )
        return engine

    def insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that skips rows whose primary key exists, in this database's dialect."""
        name = self.engine.dialect.name
        if name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if name == "sqlite":
            return sqlite_dialect.insert(table).on_conflict_do_nothing()
        return table.insert().prefix_with("IGNORE")

    @functools.cached_property
    def _insert_ignore_results(self) -> Any:
        # Built once: a PENDING row is written for every publish, and building costs more than it.
        return self.insert_ignore(results)

    def _error(self, what: str, exc: BaseException, *, refused: bool = False) -> ResultStoreError:
        text = str(getattr(exc, "orig", None) or exc).strip()
        cause = text.splitlines()[0] if text else type(exc).__name__  # drivers add hint lines
        # The data itself was refused: retrying the same write can only fail the same way.
        unstorable = refused or isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError))
        return ResultStoreError(
            f"{what} the results database {self.safe_url}: {cause}", url=self.safe_url, unstorable=unstorable
        )


def _detached(engine: sa.Engine) -> Any:
    """A driver connection of ``engine`` (with its settings), taken out of its pool for good."""
    pooled = engine.raw_connection()
    driver = pooled.driver_connection
    pooled.detach()
    return driver


def _planned_once(engine: sa.Engine) -> Any:
    """A driver connection for the per-task statements, which PostgreSQL plans once per connection.

    Their plans never depend on the values (a primary key probe, a batch of ids), but with its
    default ``plan_cache_mode`` PostgreSQL plans each prepared statement anew for every call while
    the plan looks cheaper that way: a fifth of a claim's or an outcome's server time.
    """
    conn = _detached(engine)
    conn.execute("SET plan_cache_mode = force_generic_plan")
    return conn


def _refused_by_driver(exc: BaseException) -> bool:
    """Whether psycopg says the data itself was refused (as sa.exc.DataError, IntegrityError)."""
    import psycopg  # only a PostgreSQL store's driver errors get here

    return isinstance(exc, (psycopg.DataError, psycopg.IntegrityError))


def _create_table(engine: sa.Engine, tries: int = 5) -> None:
    for attempt in range(tries):
        try:
            metadata.create_all(engine, checkfirst=True)
            break
        except sa.exc.SQLAlchemyError:
            # Another process created one of the tables between the check and the CREATE; the
            # next pass creates only what is still missing.
            if attempt == tries - 1:
                raise
    # Every table on the shared metadata: the results table and those features put there
    # (the workflows' joins, arame/coordination/joins_table.py).
    for table in metadata.sorted_tables:
        add_missing_columns(engine, table)
    add_missing_indexes(engine, results)
    widen_mysql_text(engine, results)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    # WAL: readers never block the writer, and the broker can share the file.
    return sa.create_engine(url, creator=functools.partial(connect_sqlite, url.database or ""))
