"""Two copies of one task in the broker at once: the claim is won by one, the other is not run.

``app.retry(id)`` of a revoked task whose delayed message still waits publishes a second copy;
when the first comes due while the retry's copy runs, it must not run the task again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest

import arame
from tests.integration.conftest import RESULTS_DATABASES, on_brokers

pytestmark = on_brokers(RESULTS_DATABASES)

TIMEOUT = 30
COUNTDOWN = 2


class Skips(logging.Handler):
    """Sets ``seen`` when a worker logs that it did not run ``task_id``."""

    def __init__(self, task_id: Callable[[], str], seen: threading.Event) -> None:
        super().__init__(logging.INFO)
        self._task_id, self._seen = task_id, seen

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "not run" in text and self._task_id() in text:
            self._seen.set()


@pytest.fixture
def tasklog() -> Iterator[logging.Logger]:
    logger = logging.getLogger("arame.consumers.tasklog")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(level)


def test_a_revoked_task_retried_while_its_delayed_copy_waits_runs_once(
    broker_url: str, results_url: str, new_queue: Callable[[], str], tasklog: logging.Logger
) -> None:
    queue = new_queue()
    app = arame.App("copies", broker=broker_url, results=results_url)
    runs: list[int] = []
    decided = threading.Event()  # the delayed copy came due: skipped, or run a second time
    sent: list[arame.AsyncResult] = []
    handler = Skips(lambda: sent[0].id, decided)
    tasklog.addHandler(handler)

    @app.task(name=f"copies.slow.{queue}", queue=queue)
    def slow(n: int) -> int:
        runs.append(n)
        if len(runs) > 1:
            decided.set()
        assert decided.wait(TIMEOUT), "the delayed copy never came due"  # busy until then
        return n

    worker = app.worker([queue], 2)
    try:
        sent.append(slow.apply_async((8,), countdown=COUNTDOWN))
        sent[0].revoke()
        app.retry(sent[0].id)
        worker.start()
        assert sent[0].get(timeout=TIMEOUT) == 8
    finally:
        worker.stop(timeout=TIMEOUT)
        tasklog.removeHandler(handler)
        app.close()
    assert runs == [8]
