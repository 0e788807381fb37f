"""A quorum queue on a private 3-node RabbitMQ cluster loses its leader's node mid-run.

1,000 tasks, the producer still publishing, the node that holds the queue's leader killed with
SIGKILL: every task ends SUCCESS and ran exactly once, nothing is left in the queue, and the same
worker goes on (it reconnects through the failover list ``amqp://a;amqp://b;amqp://c``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

import arame
from arame.errors import TransportError
from tests.clusters.rabbitmq import Cluster
from tests.faults.helpers import figure
from tests.helpers import rabbitmq_queues, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

TASKS = 1_000
KILL_AFTER = 300  # tasks published before the leader's node dies


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        cluster.start(3)
        yield cluster
    finally:
        cluster.stop()


class Run:
    """The app, what ran and when, and what was published when."""

    def __init__(self, cluster: Cluster, tmp_path) -> None:
        self.queue = f"failover-{uuid.uuid4().hex[:8]}"
        self.app = arame.App(
            "failover",
            broker=cluster.url,
            results=f"sqlite:///{tmp_path}/results.db",
            default_queue=self.queue,
            queue_type="quorum",
        )
        self.lock = threading.Lock()
        self.ran: list[tuple[int, float]] = []
        self.published: dict[int, tuple[str, float]] = {}
        self.publish_retries = 0

        @self.app.task(name="record")
        def record(i: int) -> int:
            with self.lock:
                self.ran.append((i, time.time()))
            return i

        self.record = record

    def publish_all(self, killed: threading.Event) -> None:
        """Publish every task, a few at a time; a publish that fails is sent again (same id)."""
        for i in range(TASKS):
            task_id = uuid.uuid4().hex
            while True:
                try:
                    self.record.apply_async((i,), task_id=task_id)
                    break
                except TransportError:
                    self.publish_retries += 1
                    time.sleep(0.1)
            self.published[i] = (task_id, time.time())
            if i == KILL_AFTER:
                killed.wait(30)
            time.sleep(0.01)


def test_killing_the_quorum_queue_leader_loses_nothing_runs_nothing_twice_and_the_worker_goes_on(
    cluster, tmp_path
):
    run = Run(cluster, tmp_path)
    run.record.delay(-1)  # declares the queue, so that its leader can be found
    worker = run.app.worker(queues=[run.queue], concurrency=4, pool="thread")
    worker.start()
    killed = threading.Event()
    producer = threading.Thread(target=run.publish_all, args=(killed,), daemon=True)
    producer.start()
    try:
        wait_until(lambda: len(run.published) > KILL_AFTER, 60, "the first tasks published")
        leader = cluster.leader_of(run.queue, cluster.nodes[-1])
        kill_time = time.time()
        leader.kill()
        killed.set()
        producer.join(120)
        assert not producer.is_alive(), "the producer never finished publishing"
        done = wait_until(lambda: _all_succeeded(run), 120, "every task SUCCESS")
        survivor = next(node for node in cluster.nodes if node is not leader)
        # A message published twice (its confirm lost with the node) is acknowledged unrun.
        wait_until(lambda: _messages_left(survivor, run.queue) == 0, 30, "the queue empty")
        assert worker._thread is not None and worker._thread.is_alive(), "the worker stopped"
    finally:
        worker.stop(timeout=30)
        run.app.close()
    runs = Counter(i for i, _ in run.ran if i >= 0)
    lost = [i for i in range(TASKS) if runs[i] == 0]
    duplicated = {i: n for i, n in runs.items() if n > 1}
    resumed = min(t for i, t in run.ran if i >= 0 and run.published[i][1] > kill_time) - kill_time
    left = _messages_left(survivor, run.queue)
    figure(
        f"RabbitMQ quorum queue, leader's node (URL {cluster.nodes.index(leader) + 1} of 3) SIGKILLed "
        f"after {KILL_AFTER} of {TASKS} tasks: "
        f"lost {len(lost)}, duplicated {len(duplicated)}, work resumed {resumed:.2f} s after the kill, "
        f"{left} message(s) left, {run.publish_retries} publish(es) retried"
    )
    assert done
    assert lost == [] and duplicated == {}
    assert left == 0


def _all_succeeded(run: Run) -> bool:
    if len(run.published) < TASKS or len({i for i, _ in run.ran}) < TASKS + 1:
        return False
    states = [run.app.AsyncResult(task_id).state for task_id, _ in run.published.values()]
    return all(state == "SUCCESS" for state in states)


def _messages_left(node, queue: str) -> int:
    counts = rabbitmq_queues("messages", node.name)
    return int(counts.get(queue, "0")) + int(counts.get(f"{queue}.dead", "0"))
