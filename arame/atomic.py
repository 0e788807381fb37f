"""``arame.connection()``: the transaction an atomic task runs in.

An ``@app.task(atomic=True)`` runs inside a transaction on the results database; its writes and
its ``SUCCESS`` row commit together (see docs/transactions.md). The worker binds that
transaction's SQLAlchemy ``Connection`` here while the task runs.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

_connection: ContextVar[Any] = ContextVar("arame_task_connection", default=None)


def connection() -> Any:
    """The SQLAlchemy ``Connection`` whose transaction commits with this atomic task's result.

    Raises:
        RuntimeError: called outside an atomic task (``@app.task(atomic=True)``) run by a worker.
    """
    conn = _connection.get()
    if conn is None:
        raise RuntimeError(
            "arame.connection() is only available inside a task declared with @app.task(atomic=True) "
            "while a worker runs it"
        )
    return conn


def bound() -> Any:
    """The connection of the atomic task running now, or ``None``."""
    return _connection.get()


def bind(conn: Any) -> Token[Any]:
    """Make ``conn`` what ``connection()`` returns, until ``unbind(token)``."""
    return _connection.set(conn)


def unbind(token: Token[Any]) -> None:
    """Undo ``bind``."""
    _connection.reset(token)
