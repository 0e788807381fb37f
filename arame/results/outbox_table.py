"""The ``arame_outbox`` table: tasks whose rows were committed in a caller's transaction and whose
messages are not yet known to be in the broker."""

from __future__ import annotations

import sqlalchemy as sa

from arame.results.results_table import _Timestamp, metadata

outbox = sa.Table(
    "arame_outbox",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True, comment="the task id; its row carries the message"),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("created_at", _Timestamp, nullable=False),
    # Who may publish the row: the committing process until then, afterwards any worker's relay,
    # which takes the row by moving this forward (one publisher per row at a time).
    sa.Column("lease_until", _Timestamp, nullable=False),
)
