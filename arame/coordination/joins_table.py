"""The ``arame_joins`` table: one row per workflow step that waits on other tasks.

A chain step waits on the step before it, a chord's body on every member of its group, an
errback on the task it guards. The row is keyed by the waiting task's id; it is created with
the workflow and updated in the same transaction as each member's outcome row.
"""

from __future__ import annotations

import sqlalchemy as sa

from arame.database import LongText
from arame.results.results_table import _Timestamp, metadata

joins = sa.Table(
    "arame_joins",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True, comment="the waiting task's id"),
    sa.Column("mode", sa.String(8), nullable=False, comment="one | all | error: what it receives"),
    sa.Column("immutable", sa.Boolean, nullable=False, default=False),
    sa.Column("members", LongText, nullable=False, comment="JSON list of the ids it waits on"),
    sa.Column("expected", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False, default=0),
    sa.Column("failed_member", sa.String(255)),
    sa.Column("failed_error", LongText),
    sa.Column("body", LongText, nullable=False, comment="the waiting task's message, JSON"),
    sa.Column("countdown", sa.Float),
    sa.Column("fired", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", _Timestamp, nullable=False),
    # Added later (add_missing_columns): a relative ``expires``, counted from the firing.
    sa.Column("expires_in", sa.Float, comment="seconds from firing after which it must not start"),
)
