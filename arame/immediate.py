"""Immediate mode: a published task runs in the caller's thread and its row is written at once.

For tests: a Django ``TestCase`` wraps each test in a transaction, so a task run by a worker on
another thread or process would not see the test's rows. Here the task runs where it was
published, through the same ``execute()`` a worker uses, and its outcome goes to the results
table as a worker's would; no broker is touched.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from typing import TYPE_CHECKING

from arame import states
from arame.consumers.execute import execute
from arame.errors import TaskNotRegistered
from arame.message import TaskMessage
from arame.results import AsyncResult
from arame.states import Started

if TYPE_CHECKING:
    from arame.app import App


def run_here(app: App, message: TaskMessage) -> AsyncResult:
    """Run ``message`` now, in this thread, record every attempt, and return its ready handle.

    A retry runs again at once (its delay is not waited for), up to the task's ``max_retries``;
    ``eta`` and ``countdown`` are not waited for either.

    Raises:
        TaskNotRegistered: the app declares no task of that name.
        ResultStoreError: a row could not be written.
    """
    task = app.tasks.get(message.task)
    if task is None:
        raise TaskNotRegistered(message.task, sorted(app.tasks))
    store = app.results
    store.add_pending(message)
    worker = f"{socket.gethostname()}:{os.getpid()}:immediate"
    while True:
        attempts = message.attempt + 1
        store.claim([Started(message.id, attempts, worker, time.time(), message.task, message.queue)])
        outcome = execute(task, message, worker)
        store.record([outcome])
        if outcome.state != states.RETRY:
            return AsyncResult(message.id, store)
        message = dataclasses.replace(message, attempt=attempts)
