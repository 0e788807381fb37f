"""Leases on the Redis and SQL brokers: a dead worker's messages come back within seconds, a
living worker's never do, not while it runs a long or CPU-bound task, nor across a short outage."""

from __future__ import annotations

import signal

import pytest

import arame
from tests.faults.conftest import LEASED, NETWORKED, proxy_for
from tests.faults.helpers import (
    DEFAULT_LEASE,
    SHORT_LEASE,
    Stack,
    Workers,
    figure,
    held_messages,
    holds_for,
    wait_until,
)
from tests.faults.proxy import TcpProxy
from tests.faults.warmup import warm_up_until_prefetching

#: A dead worker's messages must be back within this (the lease, a poll, a loaded machine).
REDELIVERY_BOUND = 15.0
NETWORKED_LEASED = [param for param in NETWORKED if param in LEASED]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("stack", LEASED, indirect=True)
def test_a_killed_workers_running_and_prefetched_messages_reach_another_worker_within_seconds(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module()  # the default lease
    doomed = workers.start(app_spec, pool="thread", concurrency=1)
    doomed.wait_consuming()
    # Short tasks until its average duration is short: its prefetch window opens.
    warmups = warm_up_until_prefetching(stack, doomed)
    victim = stack.tasks.work.delay("victim", 120.0, then=0.2)  # hangs on its first run only
    queued = [stack.tasks.work.delay(f"queued-{n}", 0.05) for n in range(3)]
    wait_until(lambda: stack.runs.starts("victim"), 30, "the victim started")
    wait_until(lambda: stack.ready_messages() == 0, 30, "the doomed worker holds the queued tasks too")
    assert held_messages(stack) == 4 and not any(stack.runs.starts(f"queued-{n}") for n in range(3))
    standby = workers.start(app_spec, pool="process")
    standby.wait_consuming()

    killed_at = doomed.kill()
    keys = ["victim", *(f"queued-{n}" for n in range(3))]
    wait_until(
        lambda: all(stack.runs.starts(key)[1 if key == "victim" else 0 :] for key in keys),
        REDELIVERY_BOUND + 30,
        "every held task started again elsewhere",
    )
    back = [stack.runs.starts(key)[-1].at - killed_at for key in keys]
    figure(
        f"held messages back after SIGKILL, {stack.kind:<8} (lease {DEFAULT_LEASE:.0f}s): "
        f"first {min(back):5.2f}s, last {max(back):5.2f}s ({warmups} short tasks opened the window)"
    )
    assert max(back) < REDELIVERY_BOUND
    wait_until(lambda: stack.all_in([victim, *queued], arame.SUCCESS), 30, "every task succeeded")
    standby.signal(signal.SIGTERM)
    assert standby.wait(60) == 0, workers.logs()

    assert all(stack.runs.starts(key)[-1].pid != doomed.pid for key in keys)
    assert stack.runs.counts("start") == {"victim": 2, **{f"queued-{n}": 1 for n in range(3)}}
    assert stack.runs.counts("end") == dict.fromkeys(keys, 1)
    assert stack.ready_messages() == 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stack", LEASED, indirect=True)
def test_a_cpu_bound_task_three_times_longer_than_the_lease_runs_once_while_another_worker_waits(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    # The thread pool: the lease is renewed by a thread of the process whose task spins.
    first = workers.start(app_spec, pool="thread")
    second = workers.start(app_spec, pool="thread")
    first.wait_consuming()
    second.wait_consuming()

    spin = stack.tasks.spin.delay("spin", 3 * SHORT_LEASE)
    wait_until(
        lambda: stack.state(spin) == arame.SUCCESS, 3 * SHORT_LEASE + 30, "the spinning task succeeded"
    )
    for worker in (first, second):
        worker.signal(signal.SIGTERM)
    assert [first.wait(60), second.wait(60)] == [0, 0], workers.logs()

    assert (len(stack.runs.starts("spin")), len(stack.runs.ends("spin"))) == (1, 1), stack.runs.all()
    assert "ran out before it was renewed" not in workers.logs()
    assert stack.ready_messages() == 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stack", NETWORKED_LEASED, indirect=True)
def test_a_broker_outage_shorter_than_the_lease_does_not_run_a_task_twice(
    stack: Stack, workers: Workers, proxies: list[TcpProxy]
) -> None:
    proxy = proxy_for(stack, proxies)
    app_spec = stack.write_module()  # the default lease
    # A free slot keeps it draining, so it sees the outage and reconnects while the task runs.
    holder = workers.start(app_spec, pool="thread", concurrency=2, broker_url=proxy.url_for(stack.broker_url))
    holder.wait_consuming()
    long = stack.tasks.work.delay("long", 3 * DEFAULT_LEASE)
    wait_until(lambda: stack.runs.starts("long"), 30, "the long task started")
    standby = workers.start(app_spec, pool="process")  # straight to the broker: it sees no outage
    standby.wait_consuming()

    outage = 0.4 * DEFAULT_LEASE
    proxy.stop()  # connections cut, new ones refused: the broker is down for the holder
    holds_for(outage, lambda: len(stack.runs.starts("long")) == 1, "the long task ran once")
    proxy.start()
    later = stack.tasks.work.delay("later", 0.0)
    wait_until(lambda: stack.all_in([long, later], arame.SUCCESS), 3 * DEFAULT_LEASE + 30, "both succeeded")
    wait_until(lambda: held_messages(stack) == 0, DEFAULT_LEASE + 30, "every message was acknowledged")
    for worker in (holder, standby):
        worker.signal(signal.SIGTERM)
    assert [holder.wait(60), standby.wait(60)] == [0, 0], workers.logs()

    figure(
        f"broker down {outage:.1f}s under a {DEFAULT_LEASE:.0f}s lease, {stack.kind:<8}: long task ran once"
    )
    assert stack.runs.counts("start") == {"long": 1, "later": 1}, workers.logs()
    assert stack.runs.counts("end") == {"long": 1, "later": 1}
