"""An asyncio-pool worker holding many running coroutines dies (SIGKILL) or is stopped (SIGTERM)."""

from __future__ import annotations

import signal

import pytest

import arame
from tests.faults.conftest import TRANSPORTS
from tests.faults.helpers import SHORT_LEASE, Stack, Workers, figure, wait_until

#: The brokers users run the asyncio pool on.
SERVERS = [p for p in TRANSPORTS if p.id in {"redis", "rabbitmq", "postgres"}]
TASKS = 100
NAP = 3.0  # seconds each coroutine sleeps: long enough to be killed mid-way


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stack", SERVERS, indirect=True)
def test_an_asyncio_worker_killed_with_coroutines_running_loses_none_of_them(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    keys = [f"n{n:03d}" for n in range(TASKS)]
    handles = [stack.tasks.nap.delay(key, NAP) for key in keys]
    doomed = workers.start(app_spec, pool="asyncio", concurrency=TASKS)
    wait_until(lambda: len(stack.runs.counts("start")) == TASKS, 30, "every coroutine started")
    doomed.kill()
    assert not stack.runs.counts("end"), "the kill came too late: some coroutines had finished"

    survivor = workers.start(app_spec, pool="asyncio", concurrency=TASKS)
    wait_until(lambda: stack.all_in(handles, arame.SUCCESS), SHORT_LEASE + 60, "every task succeeded")
    survivor.signal(signal.SIGTERM)
    assert survivor.wait(60) == 0, workers.logs()

    starts, ends = stack.runs.counts("start"), stack.runs.counts("end")
    figure(f"asyncio worker SIGKILLed with {TASKS} coroutines running, {stack.kind:<8}: all rerun, none lost")
    assert starts == dict.fromkeys(keys, 2)  # each interrupted once, then run to the end once
    assert ends == dict.fromkeys(keys, 1)
    assert [stack.row(handle).result for handle in handles] == keys
    assert stack.ready_messages() == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stack", SERVERS[:1], indirect=True)
def test_sigterm_lets_the_running_coroutines_of_an_asyncio_worker_finish(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module()
    worker = workers.start(app_spec, pool="asyncio", concurrency=10)
    handles = [stack.tasks.nap.delay(f"r{n}", 1.0) for n in range(10)]
    wait_until(lambda: len(stack.runs.counts("start")) == 10, 30, "the coroutines started")

    worker.signal(signal.SIGTERM)

    assert worker.wait(60) == 0, workers.logs()
    assert all(stack.row(handle).state == arame.SUCCESS for handle in handles)
    assert stack.runs.counts("start") == stack.runs.counts("end") == {f"r{n}": 1 for n in range(10)}
    assert stack.ready_messages() == 0
