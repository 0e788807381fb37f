"""dedup_key under concurrency: exactly one task per key while it is pending, threads or processes.

With the default ``dedup_for`` (0 s) only the holder's row keeps the key, so the row and the
reservation must appear together: a caller that saw the reservation before its holder's row
took the key over and published a second task.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import arame
from arame.results.results_table import results

TIMEOUT = 60
KEYS = 5
SQL_BROKERS = [
    pytest.param("sqlite:///{tmp}/broker.db", id="sqlite"),
    pytest.param("postgresql://127.0.0.1/test", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql://root@127.0.0.1/test", id="mysql", marks=pytest.mark.mysql),
]
pytestmark = pytest.mark.parametrize("broker_url", SQL_BROKERS, indirect=True)


def publish_from_threads(
    broker_url: str, results_url: str, queue: str, keys: list[str], threads: int, barrier: Any
) -> list[tuple[str, str]]:
    """``threads`` threads, each with its own App, publish once per key; every key at the same moment."""
    app = arame.App("dedup-race", broker=broker_url, results=results_url)
    task = app.task(name=f"dedup.race.{queue}", queue=queue)(lambda n: n)
    published: list[tuple[str, str]] = []
    lock = threading.Lock()

    def publish() -> None:
        for key in keys:
            barrier.wait(TIMEOUT)
            try:
                handle_id = task.apply_async((1,), dedup_key=key).id  # the default dedup_for
            except Exception as exc:  # reported as the test's failure, with its key
                handle_id = f"error: {exc!r}"
            with lock:
                published.append((key, handle_id))

    running = [threading.Thread(target=publish) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(TIMEOUT)
    app.close()
    return published


def _child(broker_url: str, results_url: str, queue: str, keys: list[str], barrier: Any, out: Any) -> None:
    out.put(publish_from_threads(broker_url, results_url, queue, keys, 8, barrier))


def rows_of(results_url: str, queue: str) -> int:
    engine = sa.create_engine(results_url)
    try:
        with engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(results).where(results.c.queue == queue)
            return int(conn.execute(count).scalar_one())
    finally:
        engine.dispose()


def assert_one_task_per_key(published: list[tuple[str, str]], keys: list[str], callers: int) -> None:
    assert len(published) == len(keys) * callers
    assert [task_id for _, task_id in published if task_id.startswith("error")] == []
    for key in keys:
        ids = {task_id for k, task_id in published if k == key}
        assert len(ids) == 1, f"key {key}: {len(ids)} tasks published"


def test_sixteen_threads_publishing_one_key_publish_one_task(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    keys = [f"{queue}-{n}" for n in range(KEYS)]
    published = publish_from_threads(broker_url, results_url, queue, keys, 16, threading.Barrier(16))
    assert_one_task_per_key(published, keys, 16)
    assert rows_of(results_url, queue) == KEYS


def test_two_processes_of_eight_threads_publishing_one_key_publish_one_task(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    keys = [f"{queue}-{n}" for n in range(KEYS)]
    context = multiprocessing.get_context("spawn")  # fresh processes: no connection shared by a fork
    barrier, out = context.Barrier(16), context.Queue()
    children = [
        context.Process(target=_child, args=(broker_url, results_url, queue, keys, barrier, out))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    published = [pair for _ in children for pair in out.get(timeout=TIMEOUT)]
    for child in children:
        child.join(TIMEOUT)
    assert_one_task_per_key(published, keys, 16)
    assert rows_of(results_url, queue) == KEYS


def test_sixteen_threads_taking_over_a_finished_tasks_key_publish_one_task(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    keys = [f"{queue}-{n}" for n in range(KEYS)]
    app = arame.App("dedup-race", broker=broker_url, results=results_url)
    task = app.task(name=f"dedup.race.{queue}", queue=queue)(lambda n: n)
    finished = [task.apply_async((0,), dedup_key=key) for key in keys]
    for handle in finished:
        handle.revoke()  # finished, and the default window has passed: the key is free
    app.close()
    published = publish_from_threads(broker_url, results_url, queue, keys, 16, threading.Barrier(16))
    assert_one_task_per_key(published, keys, 16)
    assert not {task_id for _, task_id in published} & {handle.id for handle in finished}
    assert rows_of(results_url, queue) == 2 * KEYS
