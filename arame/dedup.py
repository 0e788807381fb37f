"""Publishing with a deduplication key: a second call returns the first task's handle."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from arame.errors import ConfigurationError, PublishError, ResultStoreError
from arame.message import TaskMessage
from arame.results import AsyncResult
from arame.results.dedup import DedupStore

if TYPE_CHECKING:
    from arame.app import App


def send_deduplicated(app: App, message: TaskMessage, key: str, seconds: float) -> AsyncResult:
    """Publish ``message`` unless ``key`` is held by another task; return the holder's handle.

    Raises:
        ConfigurationError: a negative window or an empty key.
        ResultStoreError: the key or the PENDING row could not be written.
        PublishError: the broker did not store the message; the key is given up again.
    """
    if not key or seconds < 0:
        raise ConfigurationError(
            f"dedup_key must be a non-empty text and dedup_for >= 0 s, not {key!r}, {seconds!r}"
        )
    if app.immediate:
        return app.send(message)
    store = DedupStore(app.results)
    holder = store.reserve(key, message.id, seconds, time.time())
    if holder != message.id:
        return AsyncResult(holder, app.results)
    try:
        return app.send(message)
    except (PublishError, ResultStoreError):
        store.release(key, message.id)
        raise
