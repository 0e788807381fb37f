"""What a worker tells an observer (metrics) about the tasks it runs; nothing when it has none."""

from __future__ import annotations

from typing import Protocol

from arame.message import TaskMessage
from arame.states import Outcome


class WorkerObserver(Protocol):
    """Told when tasks start and end; ``arame.metrics.worker_metrics.WorkerMetrics`` is the one arame ships.

    ``open`` and ``close`` are called in the worker's main process (the supervisor of a process
    pool, before it forks); the task calls in whichever process runs the task.
    """

    def open(self, *, process_pool: bool, slots: int) -> None:
        """The worker starts: ``slots`` tasks may run at once."""

    def close(self) -> None:
        """The worker has stopped."""

    def task_started(self, message: TaskMessage) -> None:
        """A claimed task is about to run."""

    def task_finished(self, message: TaskMessage, outcome: Outcome) -> None:
        """A task ran (or was refused as expired) and ended with ``outcome``."""

    def process_ended(self, pid: int) -> None:
        """A child process of the pool has ended (its counts stay, its gauges go)."""
