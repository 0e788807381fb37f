"""Retrying a workflow: only its failed tasks and the steps that never ran are run again."""

from __future__ import annotations

import logging
from collections.abc import Callable

from arame.coordination.join_plans import join_of, reopen_steps
from arame.results import RETRYABLE, ResultStore

logger = logging.getLogger(__name__)


def retry_workflow(store: ResultStore, task_id: str, rerun: Callable[[str], None]) -> bool:
    """Retry ``task_id`` as part of its workflow; ``False`` when it belongs to none.

    A step that never ran (an upstream task failed) is reopened, with the steps after it, and
    the failed tasks it waits on are retried, recursively; tasks that succeeded keep their
    results. A failed task that ran is reopened with the steps waiting on it, then ``rerun``.

    Raises:
        TaskStateError: from ``rerun``, for a task that cannot be retried.
    """
    row = store.read(task_id)
    if row is None or row.state not in RETRYABLE:
        return False
    if row.message is None:
        join = join_of(store, task_id)
        if join is None:
            return False
        reopen_steps(store, [task_id])
        for member in dict.fromkeys(join.members):
            if store.state_of(member) in RETRYABLE and not retry_workflow(store, member, rerun):
                rerun(member)
        logger.info("workflow step %s reopened; its failed upstream tasks run again", task_id)
        return True
    if not row.message.joins:
        return False
    reopen_steps(store, list(row.message.joins))
    rerun(task_id)
    return True


def reopen_followers(store: ResultStore, task_id: str) -> None:
    """Reopen the failed steps waiting on ``task_id`` (a dead letter of it is put back to run)."""
    row = store.read(task_id)
    if row is not None and row.message is not None and row.message.joins:
        reopen_steps(store, list(row.message.joins))
