"""Fair shares survive a worker killed mid-way: no task lost, the other tenant still gets its turn."""

from __future__ import annotations

import signal

import pytest

import arame
from tests.faults.helpers import SHORT_LEASE, Stack, Workers, wait_until


@pytest.mark.timeout(150)
def test_a_worker_killed_among_fair_tasks_loses_none_and_the_second_tenant_still_gets_its_turn(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    a_keys, b_keys = [f"a{n:02d}" for n in range(40)], [f"b{n}" for n in range(3)]
    a = [stack.tasks.fair_work.delay("a", key, 0.1) for key in a_keys]
    doomed = workers.start(app_spec, concurrency=2)
    wait_until(lambda: len(stack.runs.counts("end")) >= 3, 30, "the worker began a's backlog")
    doomed.kill()  # SIGKILL mid-task: its messages come back to a's sub-queue
    b = [stack.tasks.fair_work.delay("b", key, 0.1) for key in b_keys]
    last = workers.start(app_spec, concurrency=2)
    wait_until(lambda: stack.all_in(a + b, arame.SUCCESS), SHORT_LEASE + 60, "every task succeeded")
    last.signal(signal.SIGTERM)
    assert last.wait(60) == 0, workers.logs()

    starts = stack.runs.counts("start")
    assert sorted(starts) == sorted(a_keys + b_keys)
    assert sum(count - 1 for count in starts.values()) <= 2  # only what the kill interrupted ran twice
    order = [run.key for run in stack.runs.all() if run.event == "start"]
    last_b = max(order.index(key) for key in b_keys)
    assert last_b < len(order) - 10, f"b's tasks started only behind a's backlog: {order}"
