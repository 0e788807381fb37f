"""async def tasks run on the worker's event loop, with retries and time limits as sync tasks have."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

import arame

TIMEOUT = 30


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

    handle = add.delay(2, 3)
    app.worker([queue], 2, pool="asyncio", burst=True).run()
    assert handle.get(timeout=TIMEOUT) == [5, handle.id]


def test_an_async_task_retries_as_a_sync_task_does(app: arame.App, new_queue: Callable[[], str]) -> None:
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

    handle = flaky.delay()
    worker = app.worker([queue], 2, pool="asyncio")
    worker.start()
    try:
        assert handle.get(timeout=TIMEOUT) == 2
    finally:
        worker.stop(timeout=TIMEOUT)


def test_an_async_task_past_its_soft_time_limit_is_cancelled_and_fails(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    cancelled: list[bool] = []

    @app.task(name=f"aio.slow.{queue}", queue=queue, soft_time_limit=0.2, max_retries=0)
    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    handle = slow.delay()
    began = time.monotonic()
    app.worker([queue], 1, pool="asyncio", burst=True).run()
    with pytest.raises(arame.TaskFailed, match="SoftTimeLimitExceeded"):
        handle.get(timeout=TIMEOUT)
    assert time.monotonic() - began < 10
    deadline = time.monotonic() + 5
    while not cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cancelled == [True]


@pytest.mark.parametrize("broker_url", ["redis://127.0.0.1:6379/15"], indirect=True)
@pytest.mark.redis
def test_a_thousand_sleeping_async_tasks_share_one_process(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"aio.nap.{queue}", queue=queue)
    async def nap() -> None:
        await asyncio.sleep(1)

    handles = nap.map([() for _ in range(1000)])
    began = time.monotonic()
    app.worker([queue], 1000, pool="asyncio", burst=True).run()
    took = time.monotonic() - began
    assert all(h.state == arame.SUCCESS for h in handles)
    assert took < 30  # far below the 1000 s they would take one at a time (figure: docs/flow-control.md)
