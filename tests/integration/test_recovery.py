"""Running tasks again from their rows, on every broker: dead-letter requeue, retry, reconcile."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import redis
import sqlalchemy as sa

import arame
from arame.errors import TaskStateError
from arame.testing import run_until_empty
from arame.transport import list_dead, parse_broker_url
from arame.transport.connection import connect, kombu_queue
from arame.transport.redis_queue.data_model import queue_keys
from arame.transport.sql.messages_table import messages


class Counted:
    """An app with one task on a fresh queue that counts its runs per argument; it fails while ``failing``."""

    def __init__(self, broker_url: str, results_url: str, queue: str, *, with_task: bool = True) -> None:
        self.queue = queue
        self.runs: Counter[int] = Counter()
        self.failing = False
        self.app = arame.App("recovery", broker=broker_url, results=results_url, default_queue=queue)
        if with_task:

            @self.app.task(name="recovery.square", queue=queue, max_retries=0)
            def square(x: int) -> int:
                self.runs[x] += 1
                if self.failing:
                    raise RuntimeError("not today")
                return x * x

            self.square = square

    def run(self) -> None:
        run_until_empty(self.app, [self.queue], concurrency=2)


@pytest.fixture
def counted(broker_url: str, results_url: str, new_queue: Callable[[], str]) -> Iterator[Counted]:
    counted = Counted(broker_url, results_url, new_queue())
    yield counted
    counted.app.close()


def test_a_requeued_dead_letter_runs_its_task_once(
    counted: Counted, broker_url: str, results_url: str
) -> None:
    sent = counted.square.delay(7)
    unaware = Counted(broker_url, results_url, counted.queue, with_task=False)  # a worker without the task
    try:
        unaware.run()
    finally:
        unaware.app.close()
    assert sent.state == arame.FAILURE and len(list_dead(counted.app.broker, counted.queue)) == 1

    assert counted.app.requeue_dead(counted.queue) == [sent.id]
    counted.run()

    assert sent.get(timeout=10) == 49
    assert counted.runs == {7: 1}
    assert list_dead(counted.app.broker, counted.queue) == []


def test_a_failed_task_retried_runs_again_with_the_same_id_and_attempts_continuing(counted: Counted) -> None:
    counted.failing = True
    sent = counted.square.delay(3)
    counted.run()
    assert sent.state == arame.FAILURE

    counted.failing = False
    assert counted.app.retry(sent.id) == sent
    assert sent.state == arame.PENDING
    counted.run()

    assert sent.get(timeout=10) == 9
    assert counted.runs == {3: 2}
    assert sent.row is not None and sent.row.attempts == 2


def test_a_revoked_task_can_be_retried(counted: Counted) -> None:
    sent = counted.square.delay(4)
    sent.revoke()
    counted.run()

    counted.app.retry(sent.id)
    counted.run()

    assert sent.get(timeout=10) == 16 and counted.runs == {4: 1}


def test_retry_refuses_a_task_that_succeeded_is_pending_or_is_unknown(counted: Counted) -> None:
    done = counted.square.delay(2)
    counted.run()
    waiting = counted.square.delay(5)

    for task_id, state in [(done.id, arame.SUCCESS), (waiting.id, arame.PENDING), ("no-such-id", "UNKNOWN")]:
        with pytest.raises(TaskStateError) as refused:
            counted.app.retry(task_id)
        assert refused.value.state == state

    counted.run()
    assert counted.runs == {2: 1, 5: 1}


def _lose_broker_data(broker_url: str, results_url: str, queue: str) -> None:
    """Delete what the broker holds of ``queue``, as a restart without persistence does."""
    kind = parse_broker_url(broker_url).kind
    if kind == "redis":
        redis.Redis(db=15).delete(*queue_keys(queue))
    elif kind == "sql":  # the broker's table sits in the results database
        engine = sa.create_engine(results_url)
        with engine.begin() as conn:
            conn.execute(messages.delete().where(messages.c.queue == queue))
        engine.dispose()
    else:
        spec = parse_broker_url(broker_url)
        connection = connect(spec)
        try:
            kombu_queue(spec, queue)(connection.default_channel).purge()
        finally:
            connection.release()


def test_reconcile_publishes_again_every_task_the_broker_lost_and_each_runs_once(
    counted: Counted, broker_url: str, results_url: str, broker_kind: str
) -> None:
    if broker_kind == "memory":
        pytest.skip("memory:// lives in one process: there is nothing a restart could lose")
    sent = counted.square.map([(n,) for n in range(20)])
    _lose_broker_data(broker_url, results_url, counted.queue)

    assert counted.app.reconcile(older_than=3600) == []  # still within the grace period
    assert sorted(counted.app.reconcile(older_than=0)) == sorted(handle.id for handle in sent)
    counted.run()

    assert [handle.get(timeout=10) for handle in sent] == [n * n for n in range(20)]
    assert counted.runs == dict.fromkeys(range(20), 1)


def test_reconcile_leaves_alone_the_tasks_the_broker_still_holds(counted: Counted) -> None:
    sent = counted.square.map([(n,) for n in range(5)])
    counted.square.apply_async((9,), countdown=3600)  # its grace counts from its eta

    assert counted.app.reconcile(older_than=0) == []
    counted.run()

    assert [handle.get(timeout=10) for handle in sent] == [n * n for n in range(5)]
    assert counted.runs == dict.fromkeys(range(5), 1)


def test_reconcile_leaves_alone_the_rows_of_queues_the_app_does_not_know(
    counted: Counted, broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    """A results database shared with an app on another broker: its rows are not ours to republish."""
    if broker_url.startswith("memory"):
        pytest.skip("memory:// lives in one process: there is nothing a restart could lose")
    other = Counted(broker_url, results_url, new_queue())
    try:
        theirs = other.square.delay(3)
        _lose_broker_data(broker_url, results_url, other.queue)

        assert counted.app.reconcile(older_than=0) == []
        assert theirs.state == arame.PENDING
        assert other.app.reconcile(older_than=0) == [theirs.id]
    finally:
        other.app.close()
