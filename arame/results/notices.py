"""Result waits woken by PostgreSQL notifications instead of polling.

The worker's outcome commit sends ``NOTIFY arame_results`` with the ids it finished, or for a
single outcome its row as a JSON object (see ``pg_outcomes``); PostgreSQL delivers it at commit,
never before. Each process that waits for results keeps one listening connection and a thread
that wakes the waiters it names, handing them the row when it came along.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

CHANNEL = "arame_results"
RETRY_AFTER = 5.0  # seconds before trying to listen again after the listener could not connect


class Notices:
    """One listening connection per process, and the waiters it wakes.

    Args:
        connect: opens a new autocommit driver connection (psycopg) to the results database.
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._waiting: dict[str, list[threading.Event]] = {}
        self._carried: dict[str, dict[str, Any]] = {}  # a waited id -> the row its notification carried
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._pid = 0
        self._failed_at = -RETRY_AFTER

    def watch(self, task_id: str) -> threading.Event | None:
        """An event set once a commit names ``task_id``; ``None`` when not listening (poll then).

        Registered before the caller reads the row: a commit after that read is always seen.
        """
        if self._pid != os.getpid():
            self._lock = threading.Lock()  # forked: a lock the parent's listener held stays held
        with self._lock:
            if not self._listening():
                return None
            event = threading.Event()
            self._waiting.setdefault(task_id, []).append(event)
            return event

    def unwatch(self, task_id: str, event: threading.Event) -> None:
        """Forget a waiter."""
        with self._lock:
            events = self._waiting.get(task_id, [])
            if event in events:
                events.remove(event)
            if not events:
                self._waiting.pop(task_id, None)
                self._carried.pop(task_id, None)

    def carried(self, task_id: str) -> dict[str, Any] | None:
        """The row (its columns, as JSON gives them) the last notification naming ``task_id``
        carried, if it carried one; taken, so it is handed over once."""
        with self._lock:
            return self._carried.pop(task_id, None)

    def close(self) -> None:
        """Stop listening (the thread ends when its connection closes)."""
        with self._lock:
            conn, self._conn, self._thread = self._conn, None, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except Exception:  # closing a connection that already broke
                logger.debug("closing the results listener failed", exc_info=True)

    def _listening(self) -> bool:
        """Whether a listener runs in this process; starts one if none (call under the lock)."""
        if self._pid != os.getpid():  # forked: the parent's thread and socket are not ours
            self._thread, self._conn, self._waiting, self._pid = None, None, {}, os.getpid()
        if self._thread is not None and self._thread.is_alive():
            return True
        if time.monotonic() - self._failed_at < RETRY_AFTER:
            return False
        try:
            conn = self._connect()
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:  # noqa: BLE001 - no listener: waits poll instead
            logger.debug("cannot listen for results, polling instead: %s", exc)
            self._failed_at = time.monotonic()
            return False
        self._conn = conn
        self._thread = threading.Thread(target=self._listen, args=(conn,), name="arame-results", daemon=True)
        self._thread.start()
        return True

    def _listen(self, conn: Any) -> None:
        try:
            for notify in conn.notifies():
                row = _row_carried(notify.payload)
                with self._lock:
                    if row is not None:
                        task_ids = [row["id"]]
                        if row["id"] in self._waiting:
                            self._carried[row["id"]] = row
                    else:
                        task_ids = notify.payload.split(" ")
                        for task_id in task_ids:  # a later commit than the row carried before
                            self._carried.pop(task_id, None)
                    for task_id in task_ids:
                        for event in self._waiting.get(task_id, ()):
                            event.set()
        except Exception as exc:  # noqa: BLE001 - a lost connection: waiters fall back to polling
            logger.debug("the results listener stopped: %s", exc)
        finally:
            with self._lock:
                for events in self._waiting.values():  # wake them all: they read, then listen anew
                    for event in events:
                        event.set()


def _row_carried(payload: str) -> dict[str, Any] | None:
    """The row a notification carries (a JSON object), or ``None`` when it names ids."""
    if not payload.startswith("{"):
        return None
    try:
        row = json.loads(payload)
    except ValueError:  # an id that merely starts with a brace
        return None
    return row if isinstance(row, dict) and isinstance(row.get("id"), str) else None
