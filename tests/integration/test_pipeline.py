"""The whole pipeline on every broker: delay() -> broker -> worker -> results table -> get()."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

import arame
from arame.message import TaskMessage, new_task_id

TIMEOUT = 30


class Shop:
    """An app with a few tasks on one fresh queue."""

    def __init__(self, broker_url: str, results_url: str, queue: str) -> None:
        self.queue = queue
        self.app = arame.App("shop", broker=broker_url, results=results_url)

        @self.app.task(name="shop.add", queue=queue)
        def add(x: int, y: int) -> int:
            return x + y

        @self.app.task(name="shop.boom", queue=queue)
        def boom(message: str) -> None:
            raise ValueError(message)

        self.add, self.boom = add, boom

    @contextmanager
    def running_worker(self) -> Iterator[arame.App]:
        """A two-slot worker on a background thread for the duration of the block."""
        worker = self.app.worker(queues=[self.queue], concurrency=2)
        worker.start()
        try:
            yield self.app
        finally:
            worker.stop(timeout=TIMEOUT)


@pytest.fixture
def shop(broker_url: str, results_url: str, new_queue: Callable[[], str]) -> Iterator[Shop]:
    shop = Shop(broker_url, results_url, new_queue())
    yield shop
    shop.app.close()


def test_a_delayed_task_returns_its_value(shop):
    with shop.running_worker():
        result = shop.add.delay(2, 3)

        assert result.get(timeout=TIMEOUT) == 5
        assert result.state == arame.SUCCESS
        assert shop.app.AsyncResult(result.id).result == 5


def test_a_failing_task_records_its_traceback_and_the_worker_keeps_going(shop):
    with shop.running_worker():
        failed = shop.boom.delay("no luck")

        with pytest.raises(arame.TaskFailed) as caught:
            failed.get(timeout=TIMEOUT)
        assert shop.add.delay(1, 1).get(timeout=TIMEOUT) == 2

    error = caught.value
    assert (error.task_id, error.remote_type, error.remote_message) == (failed.id, "ValueError", "no luck")
    assert error.remote_traceback.startswith("Traceback (most recent call last):")
    assert "raise ValueError(message)" in error.remote_traceback
    assert failed.state == arame.FAILURE and failed.traceback == error.remote_traceback


def test_an_unregistered_task_fails_with_a_clear_reason_and_the_worker_keeps_going(shop):
    message = TaskMessage(id=new_task_id(), task="shop.no_such_task", args=(1,), queue=shop.queue)

    with shop.running_worker():
        unknown = shop.app.send(message)

        with pytest.raises(arame.TaskFailed) as caught:
            unknown.get(timeout=TIMEOUT)
        assert shop.add.delay(2, 2).get(timeout=TIMEOUT) == 4

    assert caught.value.remote_type == "TaskNotRegistered"
    assert re.search(
        r"no task named 'shop.no_such_task' is registered|not registered", caught.value.remote_message
    )
    row = unknown.row
    assert (row.state, row.task_name) == (arame.FAILURE, "shop.no_such_task")


def test_tasks_published_while_no_worker_runs_are_run_once_one_starts(shop):
    results = [shop.add.delay(n, n) for n in range(6)]
    assert {r.state for r in results} == {arame.PENDING}

    with shop.running_worker():
        values = [r.get(timeout=TIMEOUT) for r in results]

    assert values == [2 * n for n in range(6)]


def test_a_burst_worker_returns_once_its_queues_are_empty(shop):
    results = [shop.add.delay(n, 1) for n in range(10)]
    failed = shop.boom.delay("burst")

    exit_code = shop.app.worker(queues=[shop.queue], concurrency=2, burst=True).run()

    assert exit_code == 0
    # No waiting: the burst returned only after every outcome was committed.
    assert [r.state for r in results] == [arame.SUCCESS] * 10
    assert [r.result for r in results] == [n + 1 for n in range(10)]
    assert failed.state == arame.FAILURE
    assert arame.transport.queue_sizes(shop.app.broker, [shop.queue]) == {shop.queue: 0}


def test_map_publishes_every_call_with_a_pending_row_and_each_runs_once(shop):
    calls = [(n, n) for n in range(300)]

    results = shop.add.map(calls)

    assert [r.state for r in results] == [arame.PENDING] * len(calls)
    assert shop.app.worker(queues=[shop.queue], concurrency=2, burst=True).run() == 0
    assert [r.get(timeout=TIMEOUT) for r in results] == [2 * n for n in range(300)]
    rows = [r.row for r in results]
    assert {row.attempts for row in rows} == {1}, "a task ran twice"
    assert arame.transport.queue_sizes(shop.app.broker, [shop.queue]) == {shop.queue: 0}


def test_map_of_nothing_publishes_nothing(shop):
    assert shop.add.map([]) == []


def test_a_task_revoked_after_a_map_does_not_run_while_its_neighbours_do(shop):
    results = shop.add.map([(n, 1) for n in range(40)])
    revoked = results[17]
    assert revoked.revoke()

    shop.app.worker(queues=[shop.queue], concurrency=2, burst=True).run()

    assert revoked.state == arame.REVOKED
    assert [r.get(timeout=TIMEOUT) for r in results if r is not revoked] == [
        n + 1 for n in range(40) if n != 17
    ]
