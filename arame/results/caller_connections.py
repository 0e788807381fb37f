"""The caller's own connection, as the outbox writes through it: SQLAlchemy or DB-API.

``attach()`` turns what a caller passes to ``app.transaction()`` into two things: a way to run
a statement inside its open transaction, and a way to run a callback once that transaction has
committed. It refuses a connection on another database than the results database, since the
rows must commit with the caller's own writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from arame.errors import ConfigurationError
from arame.results.outbox_rows import Execute

#: Registers a callback to run after the caller's transaction commits.
OnCommit = Callable[[Callable[[], None]], None]


@dataclass(frozen=True, slots=True)
class CallerConnection:
    """Statements run in the caller's transaction, and callbacks run after its commit.

    ``filters_rollbacks``: whether a callback registered in a savepoint that rolls back is
    dropped (Django's ``on_commit``); when not, the caller must check its rows still exist.
    """

    execute: Execute
    on_commit: OnCommit
    filters_rollbacks: bool
    #: Runs any statement in the transaction and reads its rows: ``sql.execute(statement, params)``.
    sql: Any


def attach(conn: Any, results_engine: sa.Engine, on_commit: OnCommit | None = None) -> CallerConnection:
    """Adapt a SQLAlchemy ``Connection`` or ``Session``, or a DB-API connection with ``on_commit``.

    Raises:
        ConfigurationError: ``conn`` is on another database, or is none of these.
    """
    if isinstance(conn, Session):
        _refuse_other_database(conn.get_bind().engine.url, results_engine.url)
        execute = conn.execute
        return CallerConnection(
            lambda statement, rows: _run(execute, statement, rows), _after_session_commit(conn), False, conn
        )
    if isinstance(conn, sa.Connection):
        _refuse_other_database(conn.engine.url, results_engine.url)
        return CallerConnection(
            lambda statement, rows: _run(conn.execute, statement, rows),
            _at_once if _autocommits(conn) else _after_connection_commit(conn),
            False,
            conn,
        )
    if on_commit is not None and hasattr(conn, "cursor"):
        dialect = results_engine.dialect
        return CallerConnection(dbapi_execute(conn, dialect), on_commit, True, DbapiStatements(conn, dialect))
    raise ConfigurationError(
        f"app.transaction() takes a SQLAlchemy Connection or Session on the results database, not {conn!r}"
    )


def _run(execute: Callable[..., Any], statement: Any, rows: list[dict[str, Any]]) -> int:
    return int(execute(statement, rows).rowcount)


def _after_session_commit(session: Session) -> OnCommit:
    def register(callback: Callable[[], None]) -> None:
        event.listen(session, "after_commit", lambda _session: callback(), once=True)

    return register


def _autocommits(conn: sa.Connection) -> bool:
    """Whether ``conn`` commits each statement itself (AUTOCOMMIT: no commit comes later)."""
    # An engine created with isolation_level= keeps it on its dialect, not in the options.
    engine_level = getattr(conn.dialect, "isolation_level", None)
    level = conn.get_execution_options().get("isolation_level", engine_level)
    return bool(level == "AUTOCOMMIT")


def _at_once(callback: Callable[[], None]) -> None:
    callback()  # the rows are committed already


def _after_connection_commit(conn: sa.Connection) -> OnCommit:
    def register(callback: Callable[[], None]) -> None:
        def commit_then_call(connection: sa.Connection) -> None:
            # SQLAlchemy fires "commit" just before it commits, and offers no event after. The
            # callback publishes, which must follow the commit, so commit here first; the
            # commit SQLAlchemy then sends finds nothing left to commit.
            connection.dialect.do_commit(connection.connection)
            callback()

        event.listen(conn, "commit", commit_then_call, once=True)

    return register


def dbapi_execute(dbapi_connection: Any, dialect: sa.Dialect) -> Execute:
    """Run statements on a DB-API connection (a framework's own), compiled for ``dialect``."""

    def execute(statement: Any, rows: list[dict[str, Any]]) -> int:
        sql, params = _compiled(statement, rows, dialect)
        cursor = dbapi_connection.cursor()
        try:
            cursor.executemany(sql, params)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    return execute


@dataclass(frozen=True, slots=True)
class DbapiResult:
    """The rows a statement run by ``DbapiStatements`` read, and how many it changed."""

    rows: list[Any]
    rowcount: int

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


@dataclass(frozen=True, slots=True)
class DbapiStatements:
    """Runs one SQLAlchemy statement at a time on a DB-API connection (a framework's own)."""

    dbapi_connection: Any
    dialect: sa.Dialect

    def execute(self, statement: Any, params: dict[str, Any] | None = None) -> DbapiResult:
        sql, (values,) = _compiled(statement, [params or {}], self.dialect)
        cursor = self.dbapi_connection.cursor()
        try:
            cursor.execute(sql, values)
            return DbapiResult(list(cursor.fetchall()) if cursor.description else [], int(cursor.rowcount))
        finally:
            cursor.close()


def _compiled(statement: Any, rows: list[dict[str, Any]], dialect: sa.Dialect) -> tuple[str, list[Any]]:
    """``statement``'s SQL for ``dialect``, and the driver's parameters for each of ``rows``."""
    compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
    processors = {
        name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
    }
    params = []
    for row in rows:
        values = compiled.construct_params(row)
        for name, process in processors.items():
            if process is not None and values.get(name) is not None:
                values[name] = process(values[name])
        params.append(tuple(values[name] for name in compiled.positiontup) if compiled.positional else values)
    return compiled.string, params


def _refuse_other_database(given: sa.URL, results: sa.URL) -> None:
    if _database_of(given) != _database_of(results):
        raise ConfigurationError(
            f"app.transaction() needs a connection on the results database "
            f"({results.render_as_string(hide_password=True)}), not on "
            f"{given.render_as_string(hide_password=True)}: the task's row must commit with your writes"
        )


def _database_of(url: sa.URL) -> tuple[str, str | None, int | None, str | None]:
    """What identifies a database, whatever the driver or user: its kind, host, port and name."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database or ""
        return backend, None, None, os.path.realpath(path) if path and path != ":memory:" else path
    host = "127.0.0.1" if url.host in {None, "", "localhost", "::1"} else url.host
    default_port = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}.get(backend)
    kind = "mysql" if backend == "mariadb" else backend
    return kind, host, url.port or default_port, url.database
