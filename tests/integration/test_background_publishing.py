"""Publishing behind the caller (``App(publish_in_background=True)``), on every broker.

``delay()`` returns once the task's rows are committed; a thread publishes the message. Whatever
happens to that thread's publish (the broker down, the process gone), the task is in the
database and a worker's relay publishes it: nothing that ``delay()`` returned for is lost.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

import arame
from tests.helpers import running
from tests.integration.conftest import BROKERS, RESULTS_DATABASES
from tests.integration.test_outbox import DEAD_BROKER, outbox_ids


def bank(broker: str, results: str, queue: str) -> arame.App:
    app = arame.App(
        "bank",
        broker=broker,
        results=results,
        default_queue=queue,
        publish_in_background=True,
        max_message_size=10_000,
    )

    @app.task(name="bank.add")
    def add(x: int, y: int) -> int:
        return x + y

    return app


def test_delay_and_map_return_before_the_publish_and_every_task_runs_once(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    app = bank(broker_url, results_url, new_queue())
    add = app.tasks["bank.add"]
    handles = [add.delay(i, 1) for i in range(20)] + add.map((i, 2) for i in range(10))
    assert app.background is not None and app.background.flush(30)
    assert not outbox_ids(app) & {h.id for h in handles}  # every one is in the broker
    assert app.worker(concurrency=2, pool="thread", burst=True).run() == 0
    assert [h.get(timeout=10) for h in handles] == [i + 1 for i in range(20)] + [i + 2 for i in range(10)]
    assert {app.results.read(h.id).attempts for h in handles} == {1}  # each ran once
    with pytest.raises(arame.PublishError, match="over the limit"):  # at once, as without the setting
        add.apply_async(("x" * 20_000, ""), task_id=f"{handles[0].id}-big")
    assert app.results.read(f"{handles[0].id}-big") is None  # and nothing was written
    app.close()


@pytest.mark.brokers(RESULTS_DATABASES)
def test_a_task_published_while_the_broker_is_down_runs_once_a_worker_reaches_the_broker(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    caller = bank(DEAD_BROKER, results_url, queue)
    handle = caller.tasks["bank.add"].delay(2, 3)  # returns: the broker is not waited for
    assert caller.background is not None and caller.background.flush(60)  # the publish failed
    assert handle.state == arame.PENDING and handle.id in outbox_ids(caller)
    worker_app = bank(broker_url, results_url, queue)
    started = time.monotonic()
    with running(worker_app.worker(concurrency=1, pool="thread")):
        assert worker_app.AsyncResult(handle.id).get(timeout=20) == 5
    assert time.monotonic() - started < 10
    assert handle.id not in outbox_ids(worker_app)
    caller.close()
    worker_app.close()


EXITS_AFTER_DELAY = textwrap.dedent(
    """
    import sys
    import arame

    broker, results, queue = sys.argv[1:4]
    app = arame.App("bank", broker=broker, results=results, default_queue=queue, publish_in_background=True)
    add = app.task(name="bank.add")(lambda x, y: x + y)
    print(*(add.delay(i, i).id for i in range(5)), flush=True)
    # No close(): a script that simply ends has published what it sent.
    """
)


@pytest.mark.brokers([p for p in BROKERS if p.id != "memory"])  # queues that outlive a process
def test_a_process_that_ends_right_after_delay_has_published_its_tasks(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    done = subprocess.run(
        [sys.executable, "-c", EXITS_AFTER_DELAY, broker_url, results_url, queue],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    task_ids = done.stdout.split()
    app = bank(broker_url, results_url, queue)
    assert len(task_ids) == 5 and not outbox_ids(app) & set(task_ids)  # published, not left to a relay
    assert app.worker(concurrency=1, pool="thread", burst=True).run() == 0
    assert [app.AsyncResult(task_id).get(timeout=10) for task_id in task_ids] == [0, 2, 4, 6, 8]
    app.close()
