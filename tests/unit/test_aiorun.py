"""guarded(): how a cancelled asyncio task reaches the coroutine it awaits (no servers)."""

from __future__ import annotations

import asyncio
from typing import Any

import arame
from arame.consumers.aiorun import AsyncRun, guarded
from arame.message import TaskMessage


def _run() -> AsyncRun:
    return AsyncRun(TaskMessage(id="t", task="x"), None, 0.0)  # type: ignore[arg-type]


async def _cancelled_after_start(run: AsyncRun, soft: bool) -> tuple[str, int]:
    async def body() -> tuple[str, int]:
        try:
            await asyncio.sleep(30)
        except arame.SoftTimeLimitExceeded:
            await asyncio.sleep(0.01)  # may still await: the cancellation was spent
            task = asyncio.current_task()
            return "soft", task.cancelling() if task is not None else -1
        return "slept", 0

    run.task = asyncio.create_task(_await(body(), run))
    await asyncio.sleep(0.01)
    run.cancel(soft)
    return await run.task


async def _await(coroutine: object, run: AsyncRun) -> Any:
    """Await ``coroutine`` through ``guarded`` as ``aexecute`` does (asyncio tasks take only
    native coroutines, not a generator-based one, since Python 3.12)."""
    return await guarded(coroutine, run)  # type: ignore[arg-type]


def test_a_soft_cancel_raises_soft_time_limit_exceeded_at_the_await_and_is_spent() -> None:
    assert asyncio.run(_cancelled_after_start(_run(), soft=True)) == ("soft", 0)


def test_a_plain_cancel_reaches_the_coroutine_as_cancelled_error() -> None:
    seen: list[str] = []

    async def body() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        run = _run()
        run.task = asyncio.create_task(_await(body(), run))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        run.cancel()
        try:
            await run.task
        except asyncio.CancelledError:
            seen.append("task cancelled")

    asyncio.run(main())
    assert seen == ["cancelled", "task cancelled"]


def test_a_value_returned_through_guarded_is_the_coroutines() -> None:
    async def body() -> int:
        await asyncio.sleep(0)
        return 7

    async def main() -> int:
        value: int = await guarded(body(), _run())
        return value

    assert asyncio.run(main()) == 7
