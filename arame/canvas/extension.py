"""Workflows as an extension: the joins waiting on a batch of outcomes advance in its transaction.

A batch records through ``on_record`` only when one of its outcomes names waiting steps or is a
refused message (which counts as a failure on the joins its own row names); every other batch
keeps the results table's fast path. The steps that fired are returned, and the result store
publishes them once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from arame.coordination.joins import record_with_joins
from arame.extensions import Extension

if TYPE_CHECKING:
    import sqlalchemy as sa

    from arame.message import TaskMessage
    from arame.states import Outcome


class Workflows(Extension):
    """Chains, groups and chords: their joins advance with their members' outcomes."""

    def records(self, outcomes: Sequence[Outcome]) -> bool:
        return any(outcome.joins or outcome.own_row_only for outcome in outcomes)

    def on_record(
        self, conn: sa.Connection, outcomes: Sequence[Outcome], write: Callable[[], None]
    ) -> Sequence[TaskMessage]:
        return record_with_joins(conn, outcomes, write)
