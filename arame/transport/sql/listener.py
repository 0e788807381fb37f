"""PostgreSQL LISTEN/NOTIFY: wake an idle consumer the moment a message is inserted."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

logger = logging.getLogger(__name__)


class Listener:
    """A dedicated PostgreSQL connection listening on one channel.

    Args:
        url: the SQLAlchemy URL of the database (``postgresql+psycopg://…``).
        channel: the NOTIFY channel name.
    """

    def __init__(self, url: str, channel: str) -> None:
        self._dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._conn: Any = None

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; return True as soon as a notification arrives.

        A broken connection is dropped and reopened on the next call; until then the caller
        falls back to polling, so a lost listener delays messages but never loses them.
        """
        try:
            conn = self._conn or self._open()
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                return True
        except Exception as exc:  # noqa: BLE001 - any failure: reconnect on the next wait
            logger.warning("LISTEN connection failed, polling until it is back: %s", exc)
            self.close()
        return False

    def close(self) -> None:
        """Close the listening connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                logger.debug("closing the LISTEN connection failed", exc_info=True)

    def _open(self) -> Any:
        import psycopg  # only PostgreSQL brokers need it

        self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
        self._conn.execute(f"LISTEN {self._channel}")
        return self._conn
