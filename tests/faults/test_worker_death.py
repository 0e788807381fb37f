"""Workers that die (SIGKILL), outlive their lease, or are asked to stop (SIGTERM) mid-task."""

from __future__ import annotations

import signal

import pytest

import arame
from tests.faults.conftest import TRANSPORTS
from tests.faults.helpers import SHORT_LEASE, Stack, Workers, figure, wait_until

#: Seconds a message may take to come back once it is free again (poll intervals, startup).
SLACK = 15.0


@pytest.mark.timeout(150)
def test_a_worker_killed_mid_task_loses_nothing_and_every_task_succeeds_exactly_once(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module()  # the default lease: the redelivery time users get
    victim = stack.tasks.work.delay("victim", 120.0, then=0.2)  # hangs on its first run only
    doomed = workers.start(app_spec, pool="process")
    wait_until(lambda: stack.runs.starts("victim"), 30, "the victim task started")
    standby = workers.start(app_spec, pool="process")
    standby.wait_consuming()
    others = [stack.tasks.work.delay(f"other-{n}", 0.05) for n in range(4)]
    wait_until(lambda: stack.all_in(others, arame.SUCCESS), 30, "the other tasks succeeded")

    killed_at = doomed.kill()
    within = (stack.lease or 0) + SLACK
    rerun = wait_until(lambda: stack.runs.starts("victim")[1:], within, "the victim ran again")[0]
    figure(f"redelivery after SIGKILL, {stack.kind:<8}: {rerun.at - killed_at:6.2f}s")
    wait_until(lambda: stack.state(victim) == arame.SUCCESS, 30, "the victim succeeded")
    standby.signal(signal.SIGTERM)
    assert standby.wait(60) == 0, workers.logs()

    assert rerun.pid != stack.runs.starts("victim")[0].pid
    assert stack.row(victim).result == "victim"
    assert all(stack.row(handle).state == arame.SUCCESS for handle in [victim, *others])
    assert stack.runs.counts("start") == {"victim": 2, **{f"other-{n}": 1 for n in range(4)}}
    assert stack.runs.counts("end") == {"victim": 1, **{f"other-{n}": 1 for n in range(4)}}
    assert stack.ready_messages() == 0


@pytest.mark.timeout(120)
def test_repeated_sigkills_of_a_busy_worker_lose_nothing_and_rerun_only_what_they_interrupted(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    keys = [f"t{n:02d}" for n in range(24)]
    handles = [stack.tasks.work.delay(key, 0.1) for key in keys]
    kills, concurrency = 3, 2

    for _ in range(kills):
        worker = workers.start(app_spec, concurrency=concurrency)
        progress = len(stack.runs.counts("end"))
        wait_until(lambda p=progress: len(stack.runs.counts("end")) >= p + 3, 30, "the worker made progress")
        worker.kill()
    last = workers.start(app_spec, concurrency=concurrency)
    wait_until(lambda: stack.all_in(handles, arame.SUCCESS), SHORT_LEASE + 60, "every task succeeded")
    last.signal(signal.SIGTERM)
    assert last.wait(60) == 0, workers.logs()

    starts = stack.runs.counts("start")
    reruns = sum(count - 1 for count in starts.values())
    figure(f"{kills} SIGKILLs of a busy worker, {stack.kind:<8}: {reruns} task(s) ran twice")
    assert sorted(starts) == keys
    assert reruns <= kills * concurrency, starts  # each kill interrupts at most `concurrency` tasks
    assert stack.ready_messages() == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stack", [p for p in TRANSPORTS if p.id in {"rabbitmq", "sqlite"}], indirect=True)
def test_a_thread_pool_worker_killed_mid_task_loses_nothing(stack: Stack, workers: Workers) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    victim = stack.tasks.work.delay("victim", 120.0, then=0.2)
    doomed = workers.start(app_spec, pool="thread")
    wait_until(lambda: stack.runs.starts("victim"), 30, "the victim task started")
    doomed.kill()
    survivor = workers.start(app_spec, pool="thread")

    wait_until(lambda: stack.state(victim) == arame.SUCCESS, SHORT_LEASE + SLACK, "the victim succeeded")
    survivor.signal(signal.SIGTERM)
    assert survivor.wait(60) == 0, workers.logs()
    assert (len(stack.runs.starts("victim")), len(stack.runs.ends("victim"))) == (2, 1)
    assert stack.ready_messages() == 0


@pytest.mark.timeout(60)
def test_a_task_longer_than_the_lease_runs_once_while_another_worker_waits(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    first = workers.start(app_spec)
    second = workers.start(app_spec)
    first.wait_consuming()
    second.wait_consuming()

    long = stack.tasks.work.delay("long", 3 * SHORT_LEASE)  # renewed twice or more on the way
    wait_until(lambda: stack.state(long) == arame.SUCCESS, 3 * SHORT_LEASE + 30, "the long task succeeded")
    short = stack.tasks.work.delay("short", 0.0)  # both workers still serve, and the long one is gone
    wait_until(lambda: stack.state(short) == arame.SUCCESS, 30, "the short task succeeded")

    for worker in (first, second):
        worker.signal(signal.SIGTERM)
    assert [first.wait(60), second.wait(60)] == [0, 0], workers.logs()
    assert len(stack.runs.starts("long")) == 1, stack.runs.all()
    assert stack.ready_messages() == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pool", ["process", "thread"])
def test_sigterm_lets_the_running_task_finish_and_the_worker_exit_0(
    stack: Stack, workers: Workers, pool: str
) -> None:
    app_spec = stack.write_module()
    worker = workers.start(app_spec, pool=pool)
    running = stack.tasks.work.delay("running", 2.0)
    wait_until(lambda: stack.runs.starts("running"), 30, "the task started")

    worker.signal(signal.SIGTERM)

    assert worker.wait(60) == 0, workers.logs()
    row = stack.row(running)
    assert (row.state, row.result, row.attempts) == (arame.SUCCESS, "running", 1)
    assert (len(stack.runs.starts("running")), len(stack.runs.ends("running"))) == (1, 1)
    assert stack.ready_messages() == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stack", [p for p in TRANSPORTS if p.id in {"rabbitmq", "sqlite"}], indirect=True)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_to_the_whole_process_group_lets_the_running_task_finish(
    stack: Stack, workers: Workers, signum: int
) -> None:
    app_spec = stack.write_module()
    worker = workers.start(app_spec, pool="process")
    running = stack.tasks.work.delay("running", 2.0)
    wait_until(lambda: stack.runs.starts("running"), 30, "the task started")

    worker.signal(signum, group=True)  # as systemd (KillMode=control-group) and Ctrl-C deliver it

    assert worker.wait(60) == 0, workers.logs()
    assert stack.state(running) == arame.SUCCESS, workers.logs()
    assert (len(stack.runs.starts("running")), len(stack.runs.ends("running"))) == (1, 1)
