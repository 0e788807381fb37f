"""Opening SQLite files the way arame needs them: WAL mode and a long busy timeout."""

from __future__ import annotations

import sqlite3
import time

#: Seconds SQLite waits on a lock held by another connection before it gives up.
BUSY_TIMEOUT = 30.0


def connect_sqlite(path: str, *, autocommit: bool = False) -> sqlite3.Connection:
    """Open ``path`` in WAL mode (readers never block the writer), usable from any thread.

    Commits do not wait for the disk (``synchronous=NORMAL``); they survive any process crash.

    Switching a file to WAL needs a moment with no other writer, and SQLite reports that busy
    state at once instead of waiting its busy timeout, so the switch is retried here.
    """
    if autocommit:  # the caller issues BEGIN itself (BEGIN IMMEDIATE for the broker)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, check_same_thread=False)
    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL still survives the crash of any process (what arame's guarantees
            # are about); only a power cut or an OS crash can undo the last commits. FULL would
            # wait for the disk at every commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
