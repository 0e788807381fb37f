"""GroupResult: one handle on the results of a group's tasks, in the group's order."""

from __future__ import annotations

import time
from typing import Any

from arame import states


class GroupResult:
    """The results of a group: ``get()`` returns them in order.

    Args:
        group_id: the group's id.
        results: a handle per member (an ``AsyncResult``, or a ``GroupResult`` for a nested group).
    """

    def __init__(self, group_id: str, results: list[Any]) -> None:
        self.id = group_id
        self.results = results

    def __repr__(self) -> str:
        return f"<GroupResult {self.id} ({len(self.results)} tasks)>"

    def __iter__(self) -> Any:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def get(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        """Wait for every member and return their results in order.

        Raises:
            TaskFailed: a member failed (with ``propagate``; otherwise its error is in the list).
            TimeoutError: ``timeout`` seconds passed (counted for the whole group).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(result.get(timeout=left, propagate=propagate))
        return values

    def ready(self) -> bool:
        """Whether every member has finished (successfully or not)."""
        return all(result.ready() for result in self.results)

    def successful(self) -> bool:
        """Whether every member succeeded."""
        return all(result.successful() for result in self.results)

    def failed(self) -> bool:
        """Whether a member failed."""
        return any(result.failed() for result in self.results)

    def completed_count(self) -> int:
        """How many members succeeded (Celery's meaning)."""
        return sum(1 for result in self.results if _succeeded(result))

    def waiting(self) -> bool:
        """Whether a member has not finished yet."""
        return not self.ready()

    def join(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        """Celery's name for :meth:`get`."""
        return self.get(timeout=timeout, propagate=propagate)


def _succeeded(result: Any) -> bool:
    if isinstance(result, GroupResult):
        return result.successful()
    return bool(result.state == states.SUCCESS)
