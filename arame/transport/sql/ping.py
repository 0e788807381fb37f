"""Ping a pooled database connection before use only when it sat idle long enough to be stale."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

IDLE_BEFORE_PING = 1.0  # seconds a pooled connection may sit unused and still be trusted


def ping_when_idle(engine: sa.Engine) -> sa.Engine:
    """Make ``engine``'s pool test a connection on checkout if it was idle over ``IDLE_BEFORE_PING``.

    SQLAlchemy's ``pool_pre_ping`` tests every checkout: one more round trip for every
    transaction of a busy worker, whose connections are never idle long enough to go stale. A
    failed ping makes the pool replace the connection, as ``pool_pre_ping`` does.
    """

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING:
            return  # new, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError() from exc
        if not alive:
            raise sa.exc.DisconnectionError()

    return engine
