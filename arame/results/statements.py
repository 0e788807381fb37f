"""The results table's statements, built once: a claim and an outcome write run for every batch."""

from __future__ import annotations

import sqlalchemy as sa

from arame import states
from arame.results.results_table import results

# Plain comparisons, not IN (...): an expanding IN cannot be used in an executemany.
ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF"  # PostgreSQL: commit without waiting for the disk
NOT_TERMINAL = sa.and_(*(results.c.state != state for state in sorted(states.TERMINAL_STATES)))
# Built once: a claim runs for every batch of tasks, and building a statement costs more than it.
# A running row (STARTED, or a state of progress) is claimed again only by a redelivery of the
# copy that claimed it (its worker died): another copy of the message (a retry published while
# the first still waited in the broker) must not run it a second time at once.
CLAIMABLE = (
    results.c.id.in_(sa.bindparam("ids", expanding=True)),
    NOT_TERMINAL,
    results.c.attempts <= sa.bindparam("b_attempts"),
    sa.or_(
        results.c.state == states.PENDING,
        results.c.state == states.RETRY,
        results.c.claim == sa.bindparam("b_claim"),
        results.c.claim.is_(None),
    ),
    # A message counting more attempts than its row (a forgery, without signing) never claims it.
    results.c.attempts >= sa.bindparam("b_attempt"),
)
CLAIM = results.update().values(
    state=states.STARTED,
    attempts=sa.bindparam("v_attempts"),
    worker=sa.bindparam("v_worker"),
    started_at=sa.bindparam("v_started_at"),
    claim=sa.bindparam("v_claim"),
)
READ = sa.select(results).where(results.c.id == sa.bindparam("id"))
STATE_OF = sa.select(results.c.state).where(results.c.id == sa.bindparam("id"))
CLAIM_RETURNING = CLAIM.where(*CLAIMABLE).returning(results.c.id)
LOCK_CLAIMABLE = sa.select(results.c.id).where(*CLAIMABLE).with_for_update()


OUTCOME_COLUMNS = (
    "task_name",
    "queue",
    "state",
    "result",
    "error_type",
    "error_message",
    "traceback",
    "attempts",
    "worker",
    "started_at",
    "finished_at",
)
# One statement for a whole batch (an executemany); bound names differ from the columns'.
UPDATE_OUTCOME = (
    results.update()
    .where(
        results.c.id == sa.bindparam("b_id"), NOT_TERMINAL, results.c.attempts <= sa.bindparam("b_attempts")
    )
    .values({name: sa.bindparam(f"v_{name}") for name in OUTCOME_COLUMNS})
)
# A refused message names its row by id, task name and creation time: another message that
# shares only the id (a forgery, a malformed copy) cannot match both and leaves the row alone.
UPDATE_OWN_ROW = UPDATE_OUTCOME.where(
    results.c.task_name == sa.bindparam("b_task_name"), results.c.created_at == sa.bindparam("b_created_at")
)
# The same test as UPDATE_OWN_ROW, as a locking read: the row a refused message may finish, and
# the message its own publish stored there (workflows read the steps waiting on it from it).
OWN_OPEN_ROW = (
    sa.select(results.c.message)
    .where(
        results.c.id == sa.bindparam("b_id"),
        results.c.task_name == sa.bindparam("b_task_name"),
        results.c.created_at == sa.bindparam("b_created_at"),
        NOT_TERMINAL,
        results.c.attempts <= sa.bindparam("b_attempts"),
    )
    .with_for_update()
)
