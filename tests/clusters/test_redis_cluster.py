"""arame on a private 6-node Redis Cluster (3 masters, 3 replicas) whose masters die mid-run."""

from __future__ import annotations

import json
import threading
import time

import pytest

import arame
from arame.transport import parse_broker_url, queue_sizes
from arame.transport.publisher import Publisher
from arame.transport.queue_contents import held_task_ids
from arame.transport.redis_queue import transport as redis_transport
from tests.clusters.failover import LEASE, publish, reconcile, run_through_failover, states
from tests.clusters.servers import Cluster, Servers, cut_off_replica_and_publish, start_cluster, wait_for
from tests.faults.helpers import Stack, Workers, figure
from tests.helpers import Inbox, inboxes, wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(servers: Servers) -> Cluster:
    return start_cluster(servers)


@pytest.fixture
def redis_url(cluster: Cluster) -> str:
    """The broker URL of ``stack`` (see conftest.py)."""
    return cluster.url


def queues_on_every_master(cluster: Cluster, stack: Stack) -> list[str]:
    """Three queue names whose slots live on three different masters."""
    found: dict[int, str] = {}
    for n in range(1000):
        name = f"{stack.queue}-{n}"
        found.setdefault(cluster.master_of("{" + name + "}").port, name)
        if len(found) == 3:
            return list(found.values())
    raise AssertionError("no three queues on three masters")


def test_every_queue_is_reached_through_any_one_seed_node_and_wakes_its_consumer_at_once(
    cluster: Cluster, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A consumer that found its messages by polling would wait up to 10 s: the bound below
    # tells a wake-up from a poll however loaded the machine is.
    monkeypatch.setattr(redis_transport, "FALLBACK_POLL", 10.0)
    queues = queues_on_every_master(cluster, stack)
    for node in cluster.nodes:  # masters and replicas alike
        publisher = Publisher(parse_broker_url(f"redis+cluster://127.0.0.1:{node.port}"))
        try:
            for queue in queues:
                publisher.publish(json.dumps(node.port), queue)
        finally:
            publisher.close()
    spec = parse_broker_url(cluster.url)
    assert queue_sizes(spec, queues) == dict.fromkeys(queues, len(cluster.nodes))
    with inboxes(lambda: Inbox(spec, queues, prefetch=100)) as open_inbox:
        inbox = open_inbox()
        assert len(inbox.receive(3 * len(cluster.nodes), within=10)) == 3 * len(cluster.nodes)
        publisher = Publisher(spec)
        try:
            for queue in queues:
                assert wake_up_latency(inbox, publisher, queue) < 5  # within the drain: no poll
        finally:
            publisher.close()


def wake_up_latency(inbox: Inbox, publisher: Publisher, queue: str) -> float:
    """Seconds between a publish and its delivery to a consumer idle in a long wait."""
    before = len(inbox.deliveries)
    inbox.subscriber.drain(0.05)  # subscribed to the wake-ups, idle
    timer = threading.Timer(0.3, lambda: publisher.publish(json.dumps("wake"), queue))
    started = time.time()
    timer.start()
    try:
        inbox.subscriber.drain(5.0)
    finally:
        timer.join()
    assert len(inbox.deliveries) == before + 1
    return inbox.arrived[-1] - (started + 0.3)


@pytest.mark.timeout(180)
def test_a_master_killed_mid_run_loses_nothing_runs_nothing_twice_and_the_worker_carries_on(
    cluster: Cluster, stack: Stack, workers: Workers
) -> None:
    queues = queues_on_every_master(cluster, stack)
    app_spec = stack.write_module(lease=LEASE)
    worker = workers.start(app_spec, pool="thread", concurrency=4, options=("-Q", ",".join(queues)))
    worker.wait_consuming()
    doomed = cluster.master_of("{" + queues[0] + "}")

    run_through_failover(stack, worker, app_spec, queues, doomed.kill, "redis cluster, master SIGKILLed")
    assert cluster.master_of("{" + queues[0] + "}") is not doomed  # its replica took over


@pytest.mark.timeout(120)
def test_a_write_the_dead_master_never_replicated_is_republished_by_reconcile(
    cluster: Cluster, stack: Stack, workers: Workers
) -> None:
    queue = next(q for q in queues_on_every_master(cluster, stack) if _has_replica(cluster, q))
    master = cluster.master_of("{" + queue + "}")
    replica = next(n for n in cluster.nodes if n.process.poll() is None and _replica_of(n, master))
    kept = publish(stack, queue, [f"kept-{n}" for n in range(5)])
    keys = [f"lost-{n}" for n in range(5)]
    unreplicated = cut_off_replica_and_publish(master, replica, lambda: publish(stack, queue, keys))
    wait_for(
        lambda: cluster.master_of("{" + queue + "}") is replica and cluster.healthy(), 30, "the failover"
    )

    held = held_task_ids(stack.spec, queue) or set()
    assert {h.id for h in kept} <= held
    assert not {h.id for h in unreplicated} & held  # acknowledged to the producer, then lost
    time.sleep(1.0)  # reconcile counts a PENDING row as lost only once it is a second old
    app_spec = stack.write_module(lease=LEASE)
    republished = reconcile(stack, app_spec, [queue])
    assert sorted(republished) == sorted(h.id for h in unreplicated)
    figure(f"redis cluster: {len(unreplicated)} unreplicated publishes lost at failover, all republished")

    worker = workers.start(app_spec, pool="thread", concurrency=2, options=("-Q", queue))
    everything = kept + unreplicated
    wait_until(
        lambda: stack.all_in(everything, arame.SUCCESS), 60, f"all succeeded: {states(stack, everything)}"
    )
    assert all(count == 1 for count in stack.runs.counts("start").values())
    assert worker.alive()


def _replica_of(node: object, master: object) -> bool:
    info = node.client().info("replication")  # type: ignore[attr-defined]
    return bool(info["role"] == "slave" and int(info["master_port"]) == master.port)  # type: ignore[attr-defined]


def _has_replica(cluster: Cluster, queue: str) -> bool:
    master = cluster.master_of("{" + queue + "}")
    return any(n.process.poll() is None and _replica_of(n, master) for n in cluster.nodes if n is not master)
