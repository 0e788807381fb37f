"""Publishing with a deduplication key: a second call returns the first task's handle.

``App.send_once`` gives ``publishing.send`` a ``KeyReservation`` (its ``Reservation``): the key
and the task's PENDING row commit in one transaction.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from arame.coordination.dedup_keys import DedupStore
from arame.errors import ConfigurationError
from arame.message import TaskMessage

if TYPE_CHECKING:
    from arame.app import App
    from arame.outbox import CallerTransaction


class KeyReservation:
    """What ``publishing.send`` does instead of writing the PENDING row when a key is given
    (a ``publishing.Reservation``).

    Args:
        app: the publishing app (the key lives in its results database).
        key: the deduplication key.
        seconds: the window after publishing during which the key stays held (``dedup_for``).

    Raises:
        ConfigurationError: a negative window or an empty key.
    """

    def __init__(self, app: App, key: str, seconds: float) -> None:
        if not key or seconds < 0:
            raise ConfigurationError(
                f"dedup_key must be a non-empty text and dedup_for >= 0 s, not {key!r}, {seconds!r}"
            )
        self._app, self._key, self._seconds = app, key, seconds

    def reserve(self, message: TaskMessage, body: str) -> str:
        """Take the key and write the PENDING row together, unless another task holds the key.

        Returns:
            The id of the task that holds the key: ``message.id``, or another's (publish nothing).

        Raises:
            ResultStoreError: neither the key nor the row was written.
        """
        results = self._app.results
        write = results.pending_writer([message], [body])
        return DedupStore(results).reserve(self._key, message.id, self._seconds, time.time(), write)

    def reserve_in(self, caller: CallerTransaction, message: TaskMessage, body: str) -> str:
        """``reserve`` in a caller's transaction (the outbox): the key and the rows commit with
        it and are published after it; a rollback frees the key."""
        holder = DedupStore(self._app.results).reserve_in(
            caller.sql, self._key, message.id, self._seconds, time.time()
        )
        if holder == message.id:
            caller.add([message], [body])
        return holder

    def release(self, task_id: str) -> None:
        """Give the key up: its task's message could not be published (its row is removed)."""
        DedupStore(self._app.results).release(self._key, task_id)
