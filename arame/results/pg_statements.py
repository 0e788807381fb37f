"""PostgreSQL: the per-task statements as SQL text, for driver connections (see direct.py).

A PENDING row, a claim and a row read say what ``insert_ignore(results)``, ``CLAIM_RETURNING``
and ``READ`` say (statements.py); tests/integration/test_direct_statements.py holds the two
spellings to the same rows. The outcome batch is in pg_outcomes.py.
"""

from __future__ import annotations

from arame import states
from arame.results.results_table import TABLE_NAME, results

PENDING_COLUMNS = ("id", "task_name", "queue", "state", "attempts", "created_at", "message", "trace_id")
_TERMINAL = ", ".join(f"'{state}'" for state in sorted(states.TERMINAL_STATES))

INSERT_PENDING = (
    f"INSERT INTO {TABLE_NAME} ({', '.join(PENDING_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({name})s' for name in PENDING_COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)

# Many PENDING rows (Task.map) in one statement: the batch as one JSON parameter, the creation
# times as epoch seconds.
_PENDING_TYPES = {"attempts": "integer", "created_at": "double precision"}
INSERT_PENDING_MANY = (
    f"INSERT INTO {TABLE_NAME} ({', '.join(PENDING_COLUMNS)}) "
    f"SELECT {', '.join('to_timestamp(created_at)' if c == 'created_at' else c for c in PENDING_COLUMNS)} "
    "FROM json_to_recordset(CAST(%(rows)s AS json)) AS r("
    + ", ".join(f"{c} {_PENDING_TYPES.get(c, 'text')}" for c in PENDING_COLUMNS)
    + ") ON CONFLICT (id) DO NOTHING"
)

# A task published behind its caller (arame.background_publishing): its PENDING row and its
# outbox row in one statement.
INSERT_PENDING_AND_OUTBOX = (
    f"WITH pending AS ({INSERT_PENDING}) INSERT INTO arame_outbox (id, queue, created_at, lease_until) "
    "VALUES (%(id)s, %(queue)s, %(created_at)s, %(lease_until)s) ON CONFLICT (id) DO NOTHING"
)

# A row is claimed when it is not terminal, records no later attempt, is not running for
# another copy of the message, and the message counts no more attempts than it does (as CLAIMABLE).
CLAIM = (
    f"UPDATE {TABLE_NAME} SET state = '{states.STARTED}', attempts = %(v_attempts)s, "
    "worker = %(v_worker)s, started_at = %(v_started_at)s, claim = %(v_claim)s "
    f"WHERE id = ANY(%(ids)s) AND state NOT IN ({_TERMINAL}) AND attempts <= %(b_attempts)s "
    f"AND (state IN ('{states.PENDING}', '{states.RETRY}') OR claim = %(b_claim)s OR claim IS NULL) "
    "AND attempts >= %(b_attempt)s RETURNING id"
)

ROW_COLUMNS = tuple(column.name for column in results.columns)
READ_ROW = f"SELECT {', '.join(ROW_COLUMNS)} FROM {TABLE_NAME} WHERE id = %(id)s"
