"""PostgreSQL: messages stored, and the idle consumers of their queues woken, in one statement.

Autocommitted by itself and durable: one round trip instead of BEGIN, INSERT, NOTIFY and COMMIT.
The batch travels as one JSON parameter, in publish order (the ids follow it); the
notifications fire only when the statement commits, and all of it commits or none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from arame.transport.sql.messages_table import TABLE_NAME

_COLUMNS = "queue, priority, not_before, deliveries, payload"

STORE_AND_NOTIFY = sa.text(f"""
WITH stored AS (
    INSERT INTO {TABLE_NAME} ({_COLUMNS})
    SELECT {_COLUMNS}
    FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS (
        queue text, priority smallint, not_before double precision, deliveries integer, payload text
    )) WITH ORDINALITY AS m({_COLUMNS}, n)
    ORDER BY n
    RETURNING queue
)
SELECT pg_notify(:channel, queue) FROM (SELECT DISTINCT queue FROM stored) AS woken
""")


def store_and_notify(engine: sa.Engine, rows: Sequence[dict[str, Any]], channel: str) -> None:
    """Store ``rows`` of the messages table (durably) and notify ``channel`` once per queue."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(STORE_AND_NOTIFY, {"rows": json.dumps(list(rows)), "channel": channel})
