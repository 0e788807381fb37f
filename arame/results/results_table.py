"""The ``arame_results`` table: one row per task id."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from arame.database.schema import LongText

TABLE_NAME = "arame_results"

metadata = sa.MetaData()

# MySQL's DATETIME drops fractions of a second unless told otherwise.
_Timestamp = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

results = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("task_name", sa.String(255), nullable=False),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("result", LongText, comment="JSON text of the return value"),
    sa.Column("error_type", sa.String(255)),
    sa.Column("error_message", LongText),
    sa.Column("traceback", LongText, comment="formatted text, never a pickled object"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker", sa.String(255)),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("started_at", _Timestamp),
    sa.Column("finished_at", _Timestamp),
    # Added after the first release: a table made before it gains the column when a store opens.
    sa.Column("message", LongText, comment="the task message's JSON wire body, unsigned"),
    sa.Column("trace_id", sa.String(32), comment="OpenTelemetry trace id (hex) it was sent in"),
    # Added with copy ids: a row claimed before it (NULL) may be claimed by any copy.
    sa.Column("claim", sa.String(32), comment="copy id of the message that claimed it, '' the first"),
    sa.Index("ix_arame_results_state_created", "state", "created_at"),
    # Added with the dashboard: its task list pages by (created_at, id), newest first, filtered
    # by at most one of state, task name or queue; a table made before them gains them in place.
    sa.Index("ix_arame_results_created", "created_at", "id"),
    sa.Index("ix_arame_results_task_created", "task_name", "created_at"),
    sa.Index("ix_arame_results_queue_created", "queue", "created_at"),
)

ticks = sa.Table(
    "arame_ticks",
    metadata,
    sa.Column("task_name", sa.String(255), primary_key=True),
    sa.Column("tick_at", sa.String(32), primary_key=True, comment="UTC, ISO 8601"),
)
