"""The async API: adelay, aapply_async, aget and astate never block the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import arame
import arame.errors
from arame.testing import run_until_empty


def test_adelay_and_aapply_async_publish_and_aget_waits_for_the_result(app: arame.App) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    async def scenario() -> tuple[int, int, str]:
        first = await add.adelay(2, 3)
        second = await add.aapply_async((4, 5), queue="default", priority=5)
        assert await first.astate() == arame.PENDING
        worker = asyncio.create_task(asyncio.to_thread(run_until_empty, app))
        values = await first.aget(timeout=10), await second.aget(timeout=10)
        await worker
        return values[0], values[1], await second.astate()

    assert asyncio.run(scenario()) == (5, 9, arame.SUCCESS)


def test_the_event_loop_keeps_running_while_aget_waits(app: arame.App) -> None:
    release = threading.Event()

    @app.task
    def slow() -> str:
        assert release.wait(5)
        return "done"

    async def scenario() -> tuple[str, int, float]:
        handle = await slow.adelay()
        worker = asyncio.create_task(asyncio.to_thread(run_until_empty, app))
        ticks, longest = 0, 0.0

        async def heartbeat() -> None:
            nonlocal ticks, longest
            last = time.monotonic()
            while not release.is_set() or ticks < 20:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                ticks, longest = ticks + 1, max(longest, now - last)
                last = now
                if ticks == 20:
                    release.set()  # the task finishes only after the loop proved it was free

        beat = asyncio.create_task(heartbeat())
        value = await handle.aget(timeout=10)
        await beat
        await worker
        return value, ticks, longest

    value, ticks, longest = asyncio.run(scenario())
    assert value == "done"
    assert ticks >= 20
    assert longest < 0.25  # no tick was held up by a blocking wait


def test_aget_times_out_and_propagate_false_returns_the_error(app: arame.App) -> None:
    @app.task(max_retries=0)
    def explode() -> None:
        raise ValueError("bad")

    async def scenario() -> object:
        handle = await explode.adelay()
        with pytest.raises(arame.TimeoutError):
            await handle.aget(timeout=0.05)
        await asyncio.to_thread(run_until_empty, app)
        with pytest.raises(arame.TaskFailed):
            await handle.aget(timeout=5)
        return await handle.aget(timeout=5, propagate=False)

    error = asyncio.run(scenario())
    assert isinstance(error, arame.TaskFailed) and error.remote_message == "bad"


def test_aget_on_an_id_no_one_published_raises_after_the_short_grace(app: arame.App) -> None:
    async def wait_for_nothing() -> None:
        await app.AsyncResult("never-published").aget(timeout=30)

    began = time.monotonic()
    with pytest.raises(arame.errors.UnknownTaskError):
        asyncio.run(wait_for_nothing())
    assert time.monotonic() - began < 10
