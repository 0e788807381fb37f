"""arame on a private Sentinel-guarded Redis (a master, a replica, 3 sentinels) whose master dies."""

from __future__ import annotations

import time

import pytest

import arame
from arame.transport.queue_contents import held_task_ids
from tests.clusters.failover import LEASE, publish, reconcile, run_through_failover, states
from tests.clusters.servers import (
    SentinelGroup,
    Servers,
    cut_off_replica_and_publish,
    start_sentinels,
    wait_for,
)
from tests.faults.helpers import Stack, Workers, figure
from tests.helpers import wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture
def group(servers: Servers) -> SentinelGroup:
    return start_sentinels(servers)


@pytest.fixture
def redis_url(group: SentinelGroup) -> str:
    """The broker URL of ``stack`` (see conftest.py)."""
    return group.url


@pytest.mark.timeout(180)
def test_a_master_killed_mid_run_is_replaced_and_the_worker_reconnects_to_the_new_one_by_itself(
    group: SentinelGroup, stack: Stack, workers: Workers
) -> None:
    queues = [f"{stack.queue}-{n}" for n in range(3)]
    app_spec = stack.write_module(lease=LEASE)
    worker = workers.start(app_spec, pool="thread", concurrency=4, options=("-Q", ",".join(queues)))
    worker.wait_consuming()

    run_through_failover(
        stack, worker, app_spec, queues, group.master.kill, "redis sentinel, master SIGKILLed"
    )
    assert group.master_port() == group.replica.port


@pytest.mark.timeout(180)
def test_a_master_demoted_by_a_failover_answers_readonly_and_the_worker_moves_to_the_new_one(
    group: SentinelGroup, stack: Stack, workers: Workers
) -> None:
    queues = [f"{stack.queue}-{n}" for n in range(3)]
    app_spec = stack.write_module(lease=LEASE)
    worker = workers.start(app_spec, pool="thread", concurrency=4, options=("-Q", ",".join(queues)))
    worker.wait_consuming()

    def fail_over() -> float:
        at = time.time()
        group.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", group.name)
        return at

    run_through_failover(stack, worker, app_spec, queues, fail_over, "redis sentinel, SENTINEL FAILOVER")
    assert group.master_port() == group.replica.port
    assert group.master.client().info("replication")["role"] == "slave"  # alive, and read-only now
    refused = group.master.client().info("errorstats").get("errorstat_READONLY", {}).get("count", 0)
    figure(f"redis sentinel, SENTINEL FAILOVER: the demoted master answered READONLY {refused} time(s)")


@pytest.mark.timeout(180)
def test_a_master_turned_replica_under_the_worker_answers_readonly_and_the_worker_moves_on(
    group: SentinelGroup, stack: Stack, workers: Workers
) -> None:
    queues = [f"{stack.queue}-{n}" for n in range(3)]
    app_spec = stack.write_module(lease=LEASE)
    worker = workers.start(app_spec, pool="thread", concurrency=4, options=("-Q", ",".join(queues)))
    worker.wait_consuming()

    def swap_roles() -> float:
        # No sentinel failover: the old master keeps its clients' connections, and refuses writes.
        at = time.time()
        group.replica.client().execute_command("REPLICAOF", "NO", "ONE")
        group.master.client().execute_command("REPLICAOF", "127.0.0.1", str(group.replica.port))
        return at

    def sentinels_agree() -> None:
        # They count a master that says it is a replica as down only after 1 s + 2 INFO periods
        # (20 s), longer than a publish retries: the worker, not the producer, is on trial here.
        wait_for(lambda: group.master_port() == group.replica.port, 60, "the sentinels name the new master")

    name = "redis sentinel, master turned replica"
    run_through_failover(stack, worker, app_spec, queues, swap_roles, name, before_publishing=sentinels_agree)
    refused = group.master.client().info("errorstats").get("errorstat_READONLY", {}).get("count", 0)
    figure(f"redis sentinel, master turned replica: it answered READONLY {refused} time(s)")
    assert refused > 0
    assert group.master_port() == group.replica.port


@pytest.mark.timeout(120)
def test_a_write_the_dead_master_never_replicated_is_republished_by_reconcile(
    group: SentinelGroup, stack: Stack, workers: Workers
) -> None:
    kept = publish(stack, stack.queue, [f"kept-{n}" for n in range(5)])
    keys = [f"lost-{n}" for n in range(5)]
    unreplicated = cut_off_replica_and_publish(
        group.master, group.replica, lambda: publish(stack, stack.queue, keys)
    )
    wait_for(lambda: group.master_port() == group.replica.port, 30, "the replica promoted")

    held = held_task_ids(stack.spec, stack.queue) or set()
    assert {h.id for h in kept} <= held
    assert not {h.id for h in unreplicated} & held  # acknowledged to the producer, then lost
    time.sleep(1.0)  # reconcile counts a PENDING row as lost only once it is a second old
    app_spec = stack.write_module(lease=LEASE)
    republished = reconcile(stack, app_spec, [stack.queue])
    assert sorted(republished) == sorted(h.id for h in unreplicated)
    figure(f"redis sentinel: {len(unreplicated)} unreplicated publishes lost at failover, all republished")

    worker = workers.start(app_spec, pool="thread", concurrency=2)
    everything = kept + unreplicated
    wait_until(
        lambda: stack.all_in(everything, arame.SUCCESS), 60, f"all succeeded: {states(stack, everything)}"
    )
    assert all(count == 1 for count in stack.runs.counts("start").values())
    assert worker.alive()
