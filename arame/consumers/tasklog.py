"""One log line per task: received (debug), then how it ended (info; failures at warning).

Cheap when the level is off: each function looks at the level before it builds anything, and
the lines are %-formatted by logging only when a handler takes them.
"""

from __future__ import annotations

import logging

from arame import states
from arame.message import TaskMessage
from arame.states import Outcome

logger = logging.getLogger(__name__)


def received(message: TaskMessage) -> None:
    """A message was admitted and waits for a slot."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("task %s[%s] received (attempt %d)", message.task, message.id, message.attempt + 1)


def finished(outcome: Outcome, seconds: float) -> None:
    """The outcome of a run is known (before it is committed)."""
    state = outcome.state
    if state == states.SUCCESS:
        if logger.isEnabledFor(logging.INFO):
            logger.info("task %s[%s] succeeded in %.3fs", outcome.task_name, outcome.task_id, seconds)
    elif state == states.RETRY:
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "task %s[%s] retried after %.3fs (attempt %d): %s: %s",
                outcome.task_name,
                outcome.task_id,
                seconds,
                outcome.attempts,
                outcome.error_type,
                outcome.error_message,
            )
    elif state == states.REVOKED:
        revoked(outcome.task_name, outcome.task_id, outcome.error_message or "revoked")
    elif logger.isEnabledFor(logging.WARNING):
        logger.warning(
            "task %s[%s] failed in %.3fs: %s: %s",
            outcome.task_name,
            outcome.task_id,
            seconds,
            outcome.error_type,
            outcome.error_message,
        )


def revoked(task_name: str, task_id: str, why: str) -> None:
    """A task was not run: revoked, expired, or already finished."""
    if logger.isEnabledFor(logging.INFO):
        logger.info("task %s[%s] revoked: %s", task_name, task_id, why)


def skipped(message: TaskMessage) -> None:
    """The row says the task may not run (revoked, finished, or running for another copy)."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "task %s[%s] not run: already finished, revoked or run by another copy", message.task, message.id
        )
