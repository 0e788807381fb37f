"""PostgreSQL: a batch of outcomes written, and its waiters notified, in one statement.

A batch travels as one JSON parameter (``json_to_recordset``): one C-encoded string instead of a
parameter per value, and one statement for any batch size, compiled once; a single outcome, an
idle worker's, as a parameter per column. The ``pg_notify`` in them fires only when the write
commits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from arame import states
from arame.results.notices import CHANNEL
from arame.results.results_table import TABLE_NAME
from arame.states import TERMINAL_STATES, Outcome

# (column, type in the JSON record): the timestamps travel as epoch seconds.
_FIELDS = (
    ("id", "text"),
    ("task_name", "text"),
    ("queue", "text"),
    ("state", "text"),
    ("result", "text"),
    ("error_type", "text"),
    ("error_message", "text"),
    ("traceback", "text"),
    ("attempts", "integer"),
    ("worker", "text"),
    ("started_at", "double precision"),
    ("finished_at", "double precision"),
)
# At most 30 ids of 255 characters in one notification: PostgreSQL refuses payloads of 8,000 bytes.
IDS_PER_NOTIFY = 30
_TERMINAL = ", ".join(f"'{state}'" for state in sorted(TERMINAL_STATES))
_NAMES = tuple(name for name, _ in _FIELDS)
_RECORD = ", ".join(f"{name} {kind}" for name, kind in _FIELDS)
_SET = ", ".join(
    f"{name} = to_timestamp(v.{name})" if kind == "double precision" else f"{name} = v.{name}"
    for name, kind in _FIELDS
    if name != "id"
)
_SET_ONE = ", ".join(
    f"{name} = to_timestamp(%({name})s)" if kind == "double precision" else f"{name} = %({name})s"
    for name, kind in _FIELDS
    if name != "id"
)

# A row in a terminal state, or recording a later attempt, is left alone (as UPDATE_OUTCOME).
# The ids come again as an array: the planner counts json_to_recordset as 100 rows whatever it
# holds, and on a results table of a few thousand rows it then chose a hash join over a scan of
# the whole table (3 ms for 5,000 rows, growing with the table); ``id = ANY(...)`` probes the
# primary key instead. Run on a driver connection (see direct.py), so psycopg's placeholder.
RECORD_AND_NOTIFY = f"""
WITH done AS (
    UPDATE {TABLE_NAME} AS r SET {_SET}
    FROM json_to_recordset(CAST(%(rows)s AS json)) AS v({_RECORD})
    WHERE r.id = ANY(%(ids)s) AND r.id = v.id AND r.state NOT IN ({_TERMINAL}) AND r.attempts <= v.attempts
    RETURNING r.id
), told AS (
    SELECT pg_notify('{CHANNEL}', string_agg(id, ' '))
    FROM (SELECT id, (row_number() OVER () - 1) / {IDS_PER_NOTIFY} AS chunk FROM done) AS numbered
    GROUP BY chunk
)
SELECT id FROM done WHERE (SELECT count(*) FROM told) >= 0
"""

# One outcome (an idle worker's, on every round trip): the same write with a parameter per
# column, without the JSON, the window and the grouping; and its notification carries the row
# (all but the message, when under MAX_CARRIED bytes), so the waiting ``get()`` need not read it.
MAX_CARRIED = 7900  # PostgreSQL refuses notification payloads of 8,000 bytes
CARRIED_COLUMNS = (
    "id", "task_name", "queue", "state", "result", "error_type", "error_message", "traceback",
    "attempts", "worker", "created_at", "started_at", "finished_at", "trace_id", "claim",
)  # fmt: skip
_CARRIED_PAIRS = ", ".join(f"'{column}', {column}" for column in CARRIED_COLUMNS)
RECORD_ONE_AND_NOTIFY = f"""
WITH done AS (
    UPDATE {TABLE_NAME} SET {_SET_ONE}
    WHERE id = %(id)s AND state NOT IN ({_TERMINAL}) AND attempts <= %(attempts)s
    RETURNING {", ".join(CARRIED_COLUMNS)}
), carried AS (
    SELECT id, json_build_object({_CARRIED_PAIRS})::text AS payload FROM done
)
SELECT id, pg_notify('{CHANNEL}', CASE WHEN octet_length(payload) < {MAX_CARRIED} THEN payload ELSE id END)
FROM carried
"""

NOTIFY_IDS = sa.text(f"""
SELECT pg_notify('{CHANNEL}', string_agg(id, ' '))
FROM (
    SELECT id, (n - 1) / {IDS_PER_NOTIFY} AS chunk
    FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS t(id, n)
) AS numbered
GROUP BY chunk
""")


def one_statement(outcomes: Sequence[Outcome]) -> bool:
    """Whether ``RECORD_AND_NOTIFY`` may write this batch: no refused message, no workflow step,
    and no id twice (an UPDATE … FROM applies one row per id; the executemany keeps their order)."""
    if any(outcome.own_row_only or outcome.joins for outcome in outcomes):
        return False
    return len({outcome.task_id for outcome in outcomes}) == len(outcomes)


def record_statement(outcomes: Sequence[Outcome]) -> tuple[str, dict[str, Any]]:
    """The statement that writes ``outcomes`` (see ``one_statement``) and notifies their waiters,
    and its parameters; its rows are the ids it wrote."""
    now = time.time()
    records = [_record(outcome, now) for outcome in outcomes]
    if len(records) == 1:
        return RECORD_ONE_AND_NOTIFY, records[0]
    return RECORD_AND_NOTIFY, {"rows": json.dumps(records), "ids": [o.task_id for o in outcomes]}


def _record(o: Outcome, now: float) -> dict[str, Any]:
    """One outcome as the columns of ``_FIELDS`` (the timestamps as epoch seconds)."""
    values = (
        o.task_id, o.task_name, o.queue, o.state, o.result_json, o.error_type, o.error_message,
        o.traceback, o.attempts, o.worker, o.started_at,
        # A RETRY is not finished: the row keeps its error until the next attempt starts.
        None if o.state == states.RETRY else (o.finished_at or now),
    )  # fmt: skip
    return dict(zip(_NAMES, values, strict=True))
