"""The consumer's view of the results table: a small protocol the App wires in."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from arame.states import Outcome, Started


class TaskTransaction(Protocol):
    """The open transaction of an atomic task (``ResultRecorder.task_transaction``)."""

    def record(self, outcome: Outcome) -> bool:
        """Write the outcome in the transaction; ``False`` if its row was finished already."""

    def abandon(self) -> None:
        """Roll it back now, from another thread, where it would keep the task's failure from
        being recorded (SQLite's one write lock); the process ends next (a hard time limit)."""


class ResultRecorder(Protocol):
    """Claims tasks before they run and commits their outcomes; raises if a transaction failed.

    The consumer's view of the results table (``ResultStore`` implements it; ``OutcomeWriter``
    batches outcomes into it), so that consumers never import results."""

    def claim(self, starts: Sequence[Started]) -> set[str]:
        """Mark tasks STARTED and return the ids that may run (not finished, not revoked)."""

    def terminated(self, task_ids: list[str]) -> set[str]:
        """Which of these running tasks were revoked with ``terminate=True``."""

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write the outcomes durably, or raise; writing one again changes nothing, so a retry
        after an error completes what was left."""

    def task_transaction(self) -> AbstractContextManager[TaskTransaction]:
        """A transaction for an atomic task: committed only once an outcome was recorded in it."""
