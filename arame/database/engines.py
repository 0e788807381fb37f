"""Engines tuned for arame's traffic: pinged only when idle, and autocommit where it is safe."""

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


def autocommit_engine(url: str | sa.URL) -> sa.Engine:
    """A PostgreSQL engine whose every statement commits by itself, without waiting for the disk.

    One round trip per statement instead of three or four (no BEGIN, no COMMIT). Only for
    writes that arame repairs after a database crash (a lease, an ack, a claim, a PENDING row)
    and for reads; the URL's own ``options`` (a ``search_path``, say) are kept.
    """
    parsed = sa.make_url(url)
    given = parsed.query.get("options", "")
    options = " ".join([*([given] if isinstance(given, str) else given), "-c synchronous_commit=off"])
    return ping_when_idle(
        sa.create_engine(parsed.update_query_dict({"options": options.strip()}), isolation_level="AUTOCOMMIT")
    )
