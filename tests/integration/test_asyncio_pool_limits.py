"""The asyncio pool stops coroutines at their time limits and when revoked, and lives on.

In-process and on PostgreSQL (broker and results): the limits are the loop's timers, whatever
the broker; a revoke is read from the results database.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import arame
from tests.helpers import running, wait_until
from tests.integration.conftest import BROKERS

TIMEOUT = 30
pytestmark = pytest.mark.parametrize(
    "broker_url", [p for p in BROKERS if p.id in {"memory", "postgres"}], indirect=True
)


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("aio-limits", broker=broker_url, results=results_url)
    yield app
    app.close()


def test_a_coroutine_past_its_soft_time_limit_sees_soft_time_limit_exceeded_at_its_await(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    seen: list[str] = []

    @app.task(name=f"aio.slow.{queue}", queue=queue, soft_time_limit=0.2, max_retries=0)
    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except arame.SoftTimeLimitExceeded:
            await asyncio.sleep(0.01)  # the task may still await while it cleans up
            seen.append("cleaned up")
            raise

    handle = slow.delay()
    began = time.monotonic()
    app.worker([queue], 2, pool="asyncio", burst=True).run()
    with pytest.raises(arame.TaskFailed, match="SoftTimeLimitExceeded"):
        handle.get(timeout=TIMEOUT)
    assert time.monotonic() - began < 10
    assert seen == ["cleaned up"]


def test_a_coroutine_that_catches_its_soft_time_limit_may_still_succeed(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"aio.partial.{queue}", queue=queue, soft_time_limit=0.2)
    async def partial() -> str:
        try:
            await asyncio.sleep(30)
        except arame.SoftTimeLimitExceeded:
            await asyncio.sleep(0.05)  # not cancelled again: the limit is spent
            return "partial result"
        return "complete"

    handle = partial.delay()
    app.worker([queue], 2, pool="asyncio", burst=True).run()
    assert handle.get(timeout=TIMEOUT) == "partial result"


def test_a_coroutine_past_its_hard_time_limit_is_cancelled_and_fails_while_the_worker_lives_on(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    cancelled = threading.Event()

    @app.task(name=f"aio.stubborn.{queue}", queue=queue, time_limit=0.3, max_retries=0)
    async def stubborn() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            await asyncio.sleep(20)  # ignores the cancellation: its outcome is recorded anyway

    @app.task(name=f"aio.quick.{queue}", queue=queue)
    async def quick() -> str:
        return "still here"

    with running(app.worker([queue], 2, pool="asyncio"), now=True):
        began = time.monotonic()
        with pytest.raises(arame.TaskFailed, match="TimeLimitExceeded"):
            stubborn.delay().get(timeout=TIMEOUT)
        assert time.monotonic() - began < 10  # not the 20 s the coroutine sleeps after the cancel
        assert cancelled.is_set()
        assert quick.delay().get(timeout=TIMEOUT) == "still here"


def test_revoking_a_running_coroutine_with_terminate_cancels_it(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    started, cancelled = threading.Event(), threading.Event()

    @app.task(name=f"aio.long.{queue}", queue=queue)
    async def long() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @app.task(name=f"aio.after.{queue}", queue=queue)
    async def after() -> str:
        return "ran"

    with running(app.worker([queue], 2, pool="asyncio")) as worker:
        handle = long.delay()
        wait_until(started.is_set, TIMEOUT, "the coroutine started")
        assert handle.revoke(terminate=True)
        wait_until(cancelled.is_set, 10, "the coroutine was cancelled")
        assert handle.state == arame.REVOKED
        assert after.delay().get(timeout=TIMEOUT) == "ran"
    assert worker.abandoned == 0
    assert handle.state == arame.REVOKED
