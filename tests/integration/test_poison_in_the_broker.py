"""Junk written straight into the broker, and dead letters: listed, requeued and nested."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
import redis

import arame
from arame.database import database_url
from arame.transport import (
    Publisher,
    dead_letter_queue,
    list_dead,
    parse_broker_url,
    queue_sizes,
    requeue_dead,
    with_lease,
)
from arame.transport.redis_queue.store import QueueStore, new_tag
from arame.transport.sql.table import engine_for, messages

TIMEOUT = 30
SHORT_LEASE = 1.0
OWN_TRANSPORTS = {"redis", "sqlite", "postgresql", "mysql"}
JUNK = ["this is not a message {", '["json", "but not a message"]', '{"properties": "not an object"}']
DEEP = "[" * 5_000 + "]" * 5_000  # deeper than Python's json module recurses


@pytest.fixture
def own_transport(broker_kind: str) -> str:
    if broker_kind not in OWN_TRANSPORTS:
        pytest.skip("only arame's own transports store messages where junk can be written")
    return broker_kind


def write_straight_into(broker_url: str, queue: str, raw: str) -> None:
    """Store ``raw`` as a message of ``queue`` behind arame's back, as any writer of the broker could."""
    if broker_url.startswith("redis"):
        client = redis.Redis.from_url(broker_url, decode_responses=True)
        try:
            QueueStore(client).put(queue, new_tag(0), raw)
        finally:
            client.close()
        return
    with engine_for(database_url(broker_url)).begin() as conn:
        conn.execute(messages.insert(), {"queue": queue, "priority": 0, "deliveries": 0, "payload": raw})


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("junk", broker=broker_url, results=results_url)
    yield app
    app.close()


@pytest.mark.parametrize("raw", JUNK, ids=["not-json", "json-list", "bad-properties"])
def test_junk_in_the_broker_is_dead_lettered_with_a_reason_and_the_worker_runs_the_next_task(
    own_transport, broker_url, app, new_queue, raw
):
    queue = new_queue()

    @app.task(name="junk.add", queue=queue)
    def add(x: int, y: int) -> int:
        return x + y

    write_straight_into(broker_url, queue, raw)
    worker = app.worker(queues=[queue], concurrency=1)
    worker.start()
    try:
        assert add.delay(2, 3).get(timeout=TIMEOUT) == 5
    finally:
        worker.stop(timeout=TIMEOUT)

    [letter] = list_dead(app.broker, queue)
    assert letter.body.decode() == raw
    assert letter.reason.startswith("MalformedMessage")
    assert (
        "not JSON" in letter.reason
        or "not a Kombu message" in letter.reason
        or "not an object" in letter.reason
    )
    assert queue_sizes(app.broker, [queue]) == {queue: 0}


@pytest.fixture
def dead_queue(own_transport: str, broker_url: str, new_queue: Callable[[], str]) -> Iterator[str]:
    """A queue whose dead-letter queue holds three letters, ``t0`` to ``t2``, in that order."""
    queue = new_queue()
    publisher = Publisher(parse_broker_url(broker_url))
    try:
        for n in range(3):
            publisher.publish(json.dumps({"id": f"t{n}"}), dead_letter_queue(queue))
    finally:
        publisher.close()
    yield queue


def test_listing_dead_letters_leaves_them_where_and_in_the_order_they_were(broker_url, dead_queue):
    spec = with_lease(parse_broker_url(broker_url), SHORT_LEASE)

    first = [letter.task_id for letter in list_dead(spec, dead_queue)]
    second = [letter.task_id for letter in list_dead(spec, dead_queue)]

    assert first == second == ["t0", "t1", "t2"]
    assert queue_sizes(spec, [dead_letter_queue(dead_queue)]) == {dead_letter_queue(dead_queue): 3}


def test_a_requeued_dead_letter_does_not_come_back_into_the_dead_queue_after_the_lease(
    broker_url, dead_queue
):
    spec = with_lease(parse_broker_url(broker_url), SHORT_LEASE)

    assert requeue_dead(spec, dead_queue, "t1")
    time.sleep(SHORT_LEASE + 0.5)  # what was left leased would be back by now

    assert [letter.task_id for letter in list_dead(spec, dead_queue)] == ["t0", "t2"]
    assert queue_sizes(spec, [dead_queue]) == {dead_queue: 1}


def test_a_dead_letter_nested_deeper_than_python_recurses_is_listed_and_requeued(
    own_transport, broker_url, new_queue
):
    spec = parse_broker_url(broker_url)
    queue = new_queue()
    deep_headers = json.dumps({"x-nested": json.loads("[" * 200 + "]" * 200)})[:-1]
    write_straight_into(broker_url, dead_letter_queue(queue), DEEP)
    publisher = Publisher(spec)
    try:
        publisher.publish(DEEP, dead_letter_queue(queue), headers=json.loads(deep_headers + "}"))
    finally:
        publisher.close()

    letters = list_dead(spec, queue)

    assert [letter.task_id for letter in letters] == [None, None]
    assert all(json.dumps(letter.headers) for letter in letters)
    assert requeue_dead(spec, queue) == 2
