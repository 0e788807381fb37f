"""The consumer's view of the results table: a small protocol the App wires in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from arame.states import Outcome, Started


class ResultRecorder(Protocol):
    """Commits STARTED marks and outcomes; raises if the transaction did not commit."""

    def is_finished(self, task_id: str) -> bool:
        """Whether the task's row is already terminal (finished or revoked): it must not run."""

    def terminated(self, task_ids: list[str]) -> set[str]:
        """Which of these running tasks were revoked with ``terminate=True``."""

    def record(self, started: Sequence[Started], outcomes: Sequence[Outcome]) -> None:
        """Write both in one transaction, or raise and write nothing."""
