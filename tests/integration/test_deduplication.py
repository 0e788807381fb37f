"""apply_async(dedup_key=...) publishes once per key while the task is unfinished and for its window."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

import arame
from tests.integration.conftest import RESULTS_DATABASES, on_brokers

pytestmark = on_brokers(RESULTS_DATABASES)

TIMEOUT = 30


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("dedup", broker=broker_url, results=results_url)
    yield app
    app.close()


def test_a_second_call_with_the_key_gets_the_pending_tasks_handle_and_it_runs_once(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue, key = new_queue(), f"report-{uuid.uuid4().hex}"
    runs: list[int] = []

    @app.task(name=f"dedup.report.{queue}", queue=queue)
    def report(n: int) -> int:
        runs.append(n)
        return n

    first = report.apply_async((1,), dedup_key=key, dedup_for=0)
    second = report.apply_async((2,), dedup_key=key, dedup_for=0)
    assert second.id == first.id

    worker = app.worker([queue], 1, burst=True)
    worker.run()
    assert first.get(timeout=TIMEOUT) == 1
    assert runs == [1]


def test_the_key_is_free_again_after_the_task_finished_and_its_window_passed(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue, key = new_queue(), f"sync-{uuid.uuid4().hex}"

    @app.task(name=f"dedup.sync.{queue}", queue=queue)
    def sync() -> str:
        return "done"

    first = sync.apply_async(dedup_key=key, dedup_for=0)
    app.worker([queue], 1, burst=True).run()
    assert first.get(timeout=TIMEOUT) == "done"

    held = sync.apply_async(dedup_key=key, dedup_for=3600)
    assert held.id != first.id  # the first finished and had no window: a new task
    assert sync.apply_async(dedup_key=key, dedup_for=3600).id == held.id  # within the new window


def test_concurrent_publishers_with_one_key_all_get_the_same_task(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    queue, key = new_queue(), f"once-{uuid.uuid4().hex}"
    ids: list[str] = []
    barrier = threading.Barrier(6)

    def publish() -> None:
        app = arame.App("dedup", broker=broker_url, results=results_url)  # its own connections
        task = app.task(name=f"dedup.once.{queue}", queue=queue)(lambda: None)
        barrier.wait()
        ids.append(task.apply_async(dedup_key=key, dedup_for=60).id)
        app.close()

    threads = [threading.Thread(target=publish) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(ids) == 6
    assert len(set(ids)) == 1
