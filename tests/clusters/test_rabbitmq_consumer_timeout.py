"""RabbitMQ's consumer timeout on a private node set to 2 s: the worker says why and goes on.

A task that runs longer than ``consumer_timeout`` makes RabbitMQ close the channel (``PRECONDITION_FAILED
- delivery acknowledgement on channel 1 timed out``) and deliver the message again; the worker logs
one clear line, reconnects, and the task ends SUCCESS.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import arame
from tests.clusters.rabbitmq import Cluster
from tests.helpers import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

CONFIG = "consumer_timeout = 2000\n"
# The broker checks the timeout when a channel ticks: every minute unless told otherwise.
ADVANCED = "[{rabbit, [{channel_tick_interval, 500}]}]."


@pytest.fixture
def node() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        cluster.start(1, CONFIG, ADVANCED)
        yield cluster
    finally:
        cluster.stop()


def test_a_task_longer_than_the_consumer_timeout_is_logged_clearly_and_the_worker_goes_on(
    node, tmp_path: Path, caplog
):
    queue = f"timeout-{uuid.uuid4().hex[:8]}"
    app = arame.App(
        "timeout",
        broker=node.url,
        results=f"sqlite:///{tmp_path}/r.db",
        default_queue=queue,
        queue_type="quorum",
    )
    first_run = tmp_path / "first"

    @app.task(name="slow")
    def slow() -> str:
        if not first_run.exists():  # only the first run outlasts the timeout
            first_run.write_text("ran")
            time.sleep(8)
        return "done"

    caplog.set_level(logging.INFO)
    result = slow.delay()
    worker = app.worker(queues=[queue], concurrency=1, pool="thread")
    worker.start()
    try:
        wait_until(lambda: _logged(caplog, "reconnected to the broker"), 60, "the worker reconnected")
        wait_until(lambda: result.state == "SUCCESS", 60, "the task SUCCESS")
        after = slow.delay()  # the same worker takes new work
        wait_until(lambda: after.state == "SUCCESS", 30, "a task published afterwards SUCCESS")
        assert worker._thread is not None and worker._thread.is_alive()
    finally:
        worker.stop(timeout=30)
        app.close()
    lines = [r.getMessage() for r in caplog.records if "consumer_timeout" in r.getMessage()]
    assert lines, "no log line names the consumer timeout"
    assert "delivers the unacknowledged messages again" in lines[0]


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
