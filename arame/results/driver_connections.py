"""PostgreSQL: the per-task statements run on psycopg connections of their own, past SQLAlchemy.

A PENDING row, a claim and an outcome batch are each one statement, and SQLAlchemy's execution
(pool checkout, compiled-cache lookup, result wrapping) cost more CPU than the round trip itself
(about 0.6 ms against 0.3 on a 2-core machine). These statements are written once as SQL text;
every other statement goes through SQLAlchemy.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from arame.database.engines import IDLE_BEFORE_PING
from arame.errors import ResultStoreError

KEPT = 8  # idle connections kept per kind; more threads than that open and close their own


class DirectConnections:
    """A small pool of driver connections, opened by ``connect`` (in autocommit).

    A connection that sat idle over ``IDLE_BEFORE_PING`` and then fails is replaced and the
    statement run once more on a new one (every statement given here may run twice). A forked
    child never touches its parent's connections.

    Args:
        connect: opens one psycopg connection, in autocommit, with the URL's options.
        report: turns a driver error into a ResultStoreError (``reading``: whether it was a read).
    """

    def __init__(
        self, connect: Callable[[], Any], report: Callable[[BaseException, bool], ResultStoreError]
    ) -> None:
        self._connect = connect
        self._report = report
        self._idle: list[tuple[Any, float]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def rows(
        self, sql: str, params: Sequence[Any] | dict[str, Any], *, reading: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run one statement (a read, if ``reading``); its rows.

        Raises:
            ResultStoreError: the database refused it or could not be reached.
        """
        import psycopg  # the postgres extra; only a PostgreSQL store gets here

        for attempt in range(2):
            with self._connection(reading, fresh=attempt > 0) as (conn, stale):
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(sql, params)
                        return cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError as exc:
                    conn.close()
                    if stale and attempt == 0:
                        continue  # the server went away while it sat idle: once more, on a new one
                    raise self._report(exc, reading) from exc
                except psycopg.Error as exc:  # refused: the connection itself is still good
                    raise self._report(exc, reading) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the idle connections (this process's only)."""
        with self._lock:
            idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn, _ in idle:
                conn.close()

    @contextmanager
    def _connection(self, reading: bool, *, fresh: bool) -> Iterator[tuple[Any, bool]]:
        conn, stale = None, False
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()  # the parent's sockets: never use them
            if self._idle and not fresh:
                conn, idle_since = self._idle.pop()
                stale = time.monotonic() - idle_since > IDLE_BEFORE_PING
        if conn is None:
            try:
                conn = self._connect()
            except Exception as exc:
                raise self._report(exc, reading) from exc
        try:
            yield conn, stale
        finally:
            if not conn.closed:
                with self._lock:
                    if len(self._idle) < KEPT and self._pid == os.getpid():
                        self._idle.append((conn, time.monotonic()))
                        conn = None
                if conn is not None:
                    conn.close()
