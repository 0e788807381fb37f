"""Workers you can list and queues you can pause, on every broker, with the real servers."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import arame
from arame.coordination import worker_registry as registry
from arame.registry import pause_steering

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("steer", broker=broker_url, results=results_url)
    yield app
    app.close()


@pytest.fixture
def queue(app: arame.App, new_queue: Callable[[], str]) -> Iterator[str]:
    name = new_queue()
    yield name
    app.workers.pauses.resume(name)


def _started_worker(app: arame.App, queue: str, concurrency: int = 1) -> arame.App:
    worker = app.worker([queue], concurrency, shutdown_timeout=5)
    worker.start()
    return worker  # type: ignore[return-value]


def test_a_paused_queue_keeps_accepting_tasks_and_runs_them_only_after_resume(
    app: arame.App, queue: str
) -> None:
    ran: list[int] = []

    @app.task(queue=queue)
    def note(n: int) -> int:
        ran.append(n)
        return n

    worker = app.worker([queue], 1, shutdown_timeout=5)
    worker.start()
    try:
        assert note.delay(1).get(timeout=10) == 1
        app.workers.pauses.pause(queue)
        paused_at = time.monotonic()
        # Wait out one look at the pause rows and one drain, then publish: it must stay put.
        time.sleep(pause_steering.PAUSE_POLL + 0.6)
        waiting = note.delay(2)
        with pytest.raises(arame.TimeoutError):
            waiting.get(timeout=1.5)
        assert waiting.state == "PENDING" and ran == [1]
        app.workers.pauses.resume(queue)
        resumed_at = time.monotonic()
        assert waiting.get(timeout=10) == 2
        assert time.monotonic() - resumed_at < 2.5, "resume took effect within about a second"
        assert paused_at < resumed_at
    finally:
        worker.stop(10)


def test_a_worker_started_on_a_paused_queue_never_takes_its_messages(app: arame.App, queue: str) -> None:
    @app.task(queue=queue)
    def echo(n: int) -> int:
        return n

    app.workers.pauses.pause(queue)
    waiting = echo.delay(7)
    worker = app.worker([queue], 1, shutdown_timeout=5)
    worker.start()
    try:
        with pytest.raises(arame.TimeoutError):
            waiting.get(timeout=1.5)
        app.workers.pauses.resume(queue)
        assert waiting.get(timeout=10) == 7
    finally:
        worker.stop(10)


def test_a_running_worker_is_listed_with_the_task_it_runs_and_its_row_goes_when_it_stops(
    app: arame.App, queue: str
) -> None:
    started, release = threading.Event(), threading.Event()

    @app.task(queue=queue)
    def hold() -> str:
        started.set()
        release.wait(20)
        return "done"

    worker = app.worker([queue], 2, shutdown_timeout=5)
    worker.start()
    try:
        held = hold.delay()
        assert started.wait(10)
        mine = [w for w in app.workers.list() if queue in w.queues]
        assert len(mine) == 1
        listed = mine[0]
        assert (listed.host, listed.pid) == (socket.gethostname(), os.getpid())
        assert (listed.pool, listed.concurrency, listed.lost) == ("thread", 2, False)
        assert listed.version == arame.__version__
        assert held.id in listed.running
        release.set()
        assert held.get(timeout=10) == "done"
    finally:
        release.set()
        worker.stop(10)
    assert not [w for w in app.workers.list() if queue in w.queues]


@pytest.mark.parametrize("broker_url", ["sqlite:///{tmp}/broker.db"], indirect=True)
def test_a_worker_that_stops_beating_is_shown_as_lost(
    app: arame.App, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = app.workers
    board.register("dead" + queue[-20:], host="gone", pid=1, queues=[queue], pool="thread", concurrency=1)
    monkeypatch.setattr(registry, "LOST_AFTER", -1.0)  # as if its last beat were long ago
    try:
        listed = [w for w in board.list() if queue in w.queues]
        assert [w.lost for w in listed] == [True]
        assert board.forget_lost() >= 1
    finally:
        board.unregister("dead" + queue[-20:])
