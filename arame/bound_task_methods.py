"""``self`` of a task declared with ``bind=True``, in Celery's names: request, retry, update_state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from arame.errors import ConfigurationError, Retry
from arame.json_values import encode_json
from arame.request import Request, current_request
from arame.task_options import check_custom_state


class StateWriter(Protocol):
    """Where ``update_state`` writes: the result store."""

    def update_state(self, task_id: str, state: str, meta_json: str | None) -> bool: ...


class _HasResults(Protocol):
    @property
    def results(self) -> StateWriter: ...


class BoundTaskMethods:
    """The methods a bound task calls on itself while it runs (``Task`` inherits them)."""

    app: _HasResults

    @property
    def request(self) -> Request:
        """The delivery being run by this thread (Celery's ``self.request``); empty outside a worker."""
        return current_request()

    def retry(
        self,
        exc: BaseException | None = None,
        countdown: float | None = None,
        eta: datetime | None = None,
        max_retries: int | None = None,
    ) -> Retry:
        """Ask for another attempt later (Celery's ``raise self.retry(...)``); raises ``Retry``.

        Args:
            exc: the error that caused it, recorded on the row (and raised as the final failure).
            countdown: seconds until the next attempt; default: the task's policy.
            eta: an aware datetime for the next attempt instead.
            max_retries: overrides the task's ``max_retries`` for this decision.
        """
        raise Retry(countdown, exc, eta=eta, max_retries=max_retries)

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: dict[str, Any] | None = None
    ) -> bool:
        """Record a state of progress (e.g. ``"PROGRESS"``) and its ``meta`` on the row at once.

        Readable from any process as ``AsyncResult.state`` / ``.info`` while the task runs.
        A custom state is not terminal: the task's outcome replaces it, and it never moves a
        finished row.

        Returns:
            Whether the row was changed (``False``: it is finished, or no one published the id).

        Raises:
            ConfigurationError: no task id (outside a worker), or a terminal or unknown state.
        """
        task_id = task_id or self.request.id
        if task_id is None:
            raise ConfigurationError("update_state outside a running task needs task_id=")
        check_custom_state(state)
        assert state is not None
        return self.app.results.update_state(task_id, state, None if meta is None else encode_json(meta))
