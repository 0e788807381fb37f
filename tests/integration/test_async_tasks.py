"""async def tasks on the asyncio pool: values, requests, retries, failures, and many at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import arame
from tests.helpers import running
from tests.integration.conftest import BROKERS

TIMEOUT = 30
#: The brokers the timing check runs on: in-process, and the three servers users run.
SERVER_BROKERS = [p for p in BROKERS if p.id in {"memory", "redis", "amqp", "postgres"}]
#: For what happens on the loop alone, whatever the broker: in-process only.
MEMORY = [p for p in BROKERS if p.id == "memory"]


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("aio", broker=broker_url, results=results_url)
    yield app
    app.close()


def test_an_async_task_returns_its_value_and_sees_its_request(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"aio.add.{queue}", queue=queue, bind=True)
    async def add(self: arame.Task[..., object], x: int, y: int) -> list[object]:
        await asyncio.sleep(0.01)
        return [x + y, self.request.id]

    handles = [add.delay(n, 3) for n in range(3)]
    app.worker([queue], 2, pool="asyncio", burst=True).run()
    assert [h.get(timeout=TIMEOUT) for h in handles] == [[n + 3, h.id] for n, h in enumerate(handles)]


def test_an_async_task_that_raises_fails_with_its_exception_and_traceback(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"aio.broken.{queue}", queue=queue, max_retries=0)
    async def broken(reason: str) -> None:
        await asyncio.sleep(0)
        raise LookupError(reason)

    handle = broken.delay("no such thing")
    app.worker([queue], 2, pool="asyncio", burst=True).run()
    with pytest.raises(arame.TaskFailed, match="no such thing") as failed:
        handle.get(timeout=TIMEOUT)
    assert failed.value.remote_type == "LookupError"
    assert "in broken" in (failed.value.remote_traceback or "")


@pytest.mark.parametrize("broker_url", MEMORY, indirect=True)
def test_an_async_task_returning_what_json_cannot_encode_fails_and_the_worker_goes_on(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"aio.odd.{queue}", queue=queue)
    async def odd(kind: str) -> object:
        return {1, 2} if kind == "set" else "fine"

    bad, good = odd.delay("set"), odd.delay("str")
    app.worker([queue], 2, pool="asyncio", burst=True).run()
    with pytest.raises(arame.TaskFailed, match="not JSON-serialisable") as failed:
        bad.get(timeout=TIMEOUT)
    assert failed.value.remote_type == "UnserializableResult"
    assert good.get(timeout=TIMEOUT) == "fine"


def test_an_async_task_retries_with_autoretry_for_as_a_sync_task_does(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(
        name=f"aio.flaky.{queue}",
        queue=queue,
        autoretry_for=(ConnectionError,),
        retry_delay=0.1,
        retry_jitter=False,
        bind=True,
    )
    async def flaky(self: arame.Task[..., int]) -> int:
        if self.request.retries < 2:
            raise ConnectionError("not yet")
        return self.request.retries

    with running(app.worker([queue], 2, pool="asyncio")):
        assert flaky.delay().get(timeout=TIMEOUT) == 2


def test_an_async_task_retries_itself_with_self_retry(app: arame.App, new_queue: Callable[[], str]) -> None:
    queue = new_queue()

    @app.task(name=f"aio.again.{queue}", queue=queue, bind=True)
    async def again(self: arame.Task[..., int]) -> int:
        await asyncio.sleep(0)
        if self.request.retries == 0:
            raise self.retry(countdown=0.1)
        return self.request.retries

    handle = again.delay()
    with running(app.worker([queue], 2, pool="asyncio")):
        assert handle.get(timeout=TIMEOUT) == 1
    assert app.results.read(handle.id).attempts == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("broker_url", MEMORY, indirect=True)
def test_sync_tasks_run_on_threads_beside_async_tasks_in_the_asyncio_pool(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"aio.plain.{queue}", queue=queue)
    def plain() -> str:
        time.sleep(0.05)
        return threading.current_thread().name

    @app.task(name=f"aio.coro.{queue}", queue=queue)
    async def coro() -> str:
        await asyncio.sleep(0.05)
        return threading.current_thread().name

    handles = [plain.delay(), coro.delay()]
    app.worker([queue], 4, pool="asyncio", burst=True).run()
    sync_thread, loop_thread = (h.get(timeout=TIMEOUT) for h in handles)
    assert loop_thread == "arame-asyncio"
    assert sync_thread.startswith("arame-slot")


@pytest.mark.parametrize("broker_url", SERVER_BROKERS, indirect=True)
def test_a_thousand_sleeping_async_tasks_run_at_once_in_one_process(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"aio.nap.{queue}", queue=queue)
    async def nap() -> None:
        await asyncio.sleep(1)

    handles = nap.map([() for _ in range(1000)])
    began = time.monotonic()
    app.worker([queue], pool="asyncio", burst=True).run()  # the default: 1000 coroutines at once
    took = time.monotonic() - began
    assert all(h.state == arame.SUCCESS for h in handles)
    # One at a time they take 1000 s; the figures per broker are in docs/flow-control.md.
    assert took < 10


@pytest.mark.parametrize("broker_url", MEMORY, indirect=True)
def test_the_asyncio_pool_runs_at_most_its_concurrency_at_once(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    running, most = [0], [0]

    @app.task(name=f"aio.count.{queue}", queue=queue)
    async def count() -> None:
        running[0] += 1  # every coroutine runs on the one loop thread: no lock needed
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.2)
        running[0] -= 1

    handles = count.map([() for _ in range(20)])
    app.worker([queue], 5, pool="asyncio", burst=True).run()
    assert all(h.state == arame.SUCCESS for h in handles)
    assert most[0] == 5
