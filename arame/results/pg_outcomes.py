"""PostgreSQL: a batch of outcomes written, and its waiters notified, in one statement.

Every column travels as one array parameter (``unnest``), so the statement is the same for any
batch size and compiles once; the ``pg_notify`` in it fires only when the write commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from arame.results.notices import CHANNEL
from arame.results.rows import outcome_values
from arame.results.table import TABLE_NAME
from arame.states import TERMINAL_STATES, Outcome

# (column, array type): the order of unnest's arguments and of the alias's names.
_ARRAYS = (
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
    ("started_at", "timestamptz"),
    ("finished_at", "timestamptz"),
)
# At most 30 ids of 255 characters in one notification: PostgreSQL refuses payloads of 8,000 bytes.
IDS_PER_NOTIFY = 30
_TERMINAL = ", ".join(f"'{state}'" for state in sorted(TERMINAL_STATES))
_UNNEST = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _ARRAYS)
_SET = ", ".join(f"{name} = v.{name}" for name, _ in _ARRAYS if name != "id")

# A row in a terminal state, or recording a later attempt, is left alone (as UPDATE_OUTCOME).
RECORD_AND_NOTIFY = sa.text(f"""
WITH v AS (
    SELECT * FROM unnest({_UNNEST}) AS v({", ".join(name for name, _ in _ARRAYS)})
), done AS (
    UPDATE {TABLE_NAME} AS r SET {_SET}
    FROM v
    WHERE r.id = v.id AND r.state NOT IN ({_TERMINAL}) AND r.attempts <= v.attempts
    RETURNING r.id
), told AS (
    SELECT pg_notify('{CHANNEL}', string_agg(id, ' '))
    FROM (SELECT id, (row_number() OVER () - 1) / {IDS_PER_NOTIFY} AS chunk FROM done) AS numbered
    GROUP BY chunk
)
SELECT id FROM done WHERE (SELECT count(*) FROM told) >= 0
""")

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


def arrays(outcomes: Sequence[Outcome]) -> dict[str, list[Any]]:
    """The parameters of ``RECORD_AND_NOTIFY``: one list per column."""
    params: dict[str, list[Any]] = {name: [] for name, _ in _ARRAYS}
    for outcome in outcomes:
        values = outcome_values(outcome)
        params["id"].append(outcome.task_id)
        for name, _ in _ARRAYS[1:]:
            params[name].append(values[name])
    return params
