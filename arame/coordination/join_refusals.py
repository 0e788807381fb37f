"""A refused workflow task: it counts in the joins waiting on it like a failure, and touches no other.

A message the worker refuses (unknown task, arguments that do not fit, too large, delivered too
often, malformed) is not trusted: the ``joins`` it carries could name anyone's workflow. Its
refusal counts only where its own row names it: the row its own publish wrote (same id, task
name and ``created``, still open), whose stored message lists the steps waiting on it. A
message that proves no such row (a forgery, a badly signed body) advances no join.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import sqlalchemy as sa

from arame.errors import MessageError
from arame.message import TaskMessage
from arame.results.rows import from_epoch
from arame.results.statements import OWN_OPEN_ROW
from arame.states import Outcome

logger = logging.getLogger(__name__)


def refusals_finishing(conn: sa.Connection, outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The refused outcomes that finish their own row, each with the joins its row's message names.

    The rows are locked until the transaction ends, like those of the outcomes that ran.
    """
    finishing: list[Outcome] = []
    for outcome in outcomes:
        if outcome.created is None:
            continue  # it names no row of its own
        stored = conn.execute(
            OWN_OPEN_ROW,
            {
                "b_id": outcome.task_id,
                "b_task_name": outcome.task_name,
                "b_created_at": from_epoch(outcome.created),
                "b_attempts": outcome.attempts,
            },
        ).scalar()
        if stored is None:
            continue
        try:
            waiting = TaskMessage.from_body(stored).joins
        except MessageError as exc:
            logger.error(
                "task %s: its stored message does not decode (%s); no join advances", outcome.task_id, exc
            )
            continue
        if waiting:
            finishing.append(replace(outcome, joins=waiting))
    return finishing
