"""Junk written straight into the broker, and dead letters: listed, requeued and nested."""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

import arame
from arame.database import database_url
from arame.transport import (
    Publisher,
    dead_letter_queue,
    dead_letter_queues,
    list_dead,
    parse_broker_url,
    queue_sizes,
    requeue_dead,
    with_lease,
)
from arame.transport.connection import connect, kombu_queue
from arame.transport.redis_queue.data_model import QueueStore, new_tag
from arame.transport.sql.messages_table import engine_for, messages
from tests.helpers import wait_until

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


def publish_straight(broker_url: str, queue: str, body: bytes, headers: dict[str, Any] | None = None) -> None:
    """Publish ``body`` with Kombu, past arame's producer, as anyone who can publish to the broker could."""
    spec = parse_broker_url(broker_url)
    connection = connect(spec)
    try:
        connection.Producer(auto_declare=False).publish(
            body,
            exchange="",
            routing_key=queue,
            declare=[kombu_queue(spec, queue)],
            content_type="application/json",
            content_encoding="utf-8",
            headers=headers or {},
            delivery_mode=2,
        )
    finally:
        connection.release()


def task_body(queue: str, fields: str, task: str = "junk.add", task_id: str = "") -> bytes:
    """A task message's JSON text with ``fields`` (JSON text: numbers no encoder writes) added."""
    task_id = task_id or uuid.uuid4().hex
    head = json.dumps({"v": 1, "id": task_id, "task": task, "args": [1, 2], "queue": queue})
    return f"{head[:-1]}, {fields}}}".encode()


def zlib_bomb(size: int) -> bytes:
    """``size`` bytes of zeros, compressed with zlib (as Kombu's ``compression="zlib"``) a chunk at a time."""
    packer, chunk = zlib.compressobj(9), bytes(1024 * 1024)
    return b"".join(packer.compress(chunk) for _ in range(size // len(chunk))) + packer.flush()


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("junk", broker=broker_url, results=results_url)
    yield app
    app.close()


def run_one_after_the_hostile_one(app: arame.App, queue: str) -> list[arame.transport.DeadLetter]:
    """Start a worker, check a task published after the hostile message runs; return the dead letters."""

    @app.task(name="junk.add", queue=queue)
    def add(x: int, y: int) -> int:
        return x + y

    worker = app.worker(queues=[queue], concurrency=1)
    worker.start()
    try:
        assert add.delay(2, 3).get(timeout=TIMEOUT) == 5
        wait_until(lambda: list_dead(app.broker, queue), TIMEOUT, "the hostile message dead-lettered")
    finally:
        worker.stop(timeout=TIMEOUT)
    assert queue_sizes(app.broker, [queue]) == {queue: 0}
    return list_dead(app.broker, queue)


# (body fields, headers, task, what the reason says): numbers out of range, a header of the wrong
# type, and (refused for their task name on today's main) values no results row can hold.
HOSTILE = {
    "attempt-1e400": ('"attempt": 1e400', {}, "junk.add", "'attempt'"),
    "priority-infinity": ('"priority": Infinity', {}, "junk.add", "'priority'"),
    "deliveries-header-not-a-number": ('"attempt": 0', {"x-arame-deliveries": "abc"}, "junk.add", "abc"),
    "created-1e300": ('"created": 1e300', {}, "junk.nobody", "'created'"),
    "created-nan": ('"created": NaN', {}, "junk.nobody", "'created'"),
    "attempt-2**70": (f'"attempt": {2**70}', {}, "junk.nobody", "'attempt'"),
}


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_message_whose_fields_cannot_be_read_is_dead_lettered_once_and_the_next_task_runs(
    broker_url, app, new_queue, hostile
):
    fields, headers, task, named = hostile
    if headers and app.broker.capabilities.leases:
        pytest.skip("arame's SQL and Redis transports count deliveries themselves: the header is never read")
    queue = new_queue()
    body = task_body(queue, fields, task)
    publish_straight(broker_url, queue, body, headers)

    [letter] = run_one_after_the_hostile_one(app, queue)

    assert letter.body == body
    assert letter.reason.startswith("MalformedMessage: "), letter.reason
    assert named in letter.reason, letter.reason
    row = app.results.read(letter.task_id or "")
    assert row is not None and (row.state, row.error_type) == (arame.FAILURE, "MalformedMessage")


def test_a_compressed_message_is_dead_lettered_unread_when_the_app_does_not_accept_compression(
    broker_url, app, new_queue
):
    queue = new_queue()
    body = zlib.compress(task_body(queue, '"attempt": 0'))
    publish_straight(broker_url, queue, body, {"compression": "application/x-gzip"})

    [letter] = run_one_after_the_hostile_one(app, queue)

    assert letter.body == body  # as it arrived: never decompressed
    assert letter.reason.startswith("MalformedMessage: the body is compressed"), letter.reason
    assert "accept_compressed" in letter.reason


def test_a_compression_bomb_is_refused_while_decompressing_when_the_app_accepts_compression(
    broker_url, results_url, new_queue
):
    app = arame.App("junk", broker=broker_url, results=results_url, accept_compressed=True)
    queue = new_queue()
    small = zlib.compress(task_body(queue, '"attempt": 0', task_id="small"))
    bomb = zlib_bomb(64 * 1024 * 1024)  # 64 MiB of zeros in 64 KiB
    publish_straight(broker_url, queue, bomb, {"compression": "application/x-gzip"})
    publish_straight(broker_url, queue, small, {"compression": "application/x-gzip"})
    try:
        [letter] = run_one_after_the_hostile_one(app, queue)
        assert app.AsyncResult("small").get(timeout=TIMEOUT) == 3  # compressed, within the limit: it ran
    finally:
        app.close()

    assert len(letter.body) == len(bomb)  # the copy is the 64 KiB that arrived, not the 64 MiB
    assert letter.body == bomb
    assert letter.reason.startswith("MessageTooLarge: decompressed, it is over the limit"), letter.reason


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


def test_a_forged_message_ahead_of_its_rows_attempt_count_leaves_the_row_to_the_real_task(
    broker_url, app, new_queue
):
    queue = new_queue()

    @app.task(name="junk.add", queue=queue)
    def add(x: int, y: int) -> int:
        return x + y

    victim = uuid.uuid4().hex
    # Without signing_keys, anyone who can publish writes a copy of a task that is still waiting,
    # with arguments of their own and an attempt count that claims to be far ahead: first in line.
    publish_straight(broker_url, queue, task_body(queue, '"attempt": 50', task_id=victim))
    real = add.apply_async((20, 22), task_id=victim)
    worker = app.worker(queues=[queue], concurrency=1)
    worker.start()
    try:
        assert real.get(timeout=TIMEOUT) == 42
        assert add.delay(2, 3).get(timeout=TIMEOUT) == 5
    finally:
        worker.stop(timeout=TIMEOUT)

    row = app.results.read(victim)
    assert (row.state, row.result, row.attempts) == (arame.SUCCESS, 42, 1)
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


def test_a_listing_slower_than_the_lease_lists_each_letter_once(broker_url, dead_queue, monkeypatch):
    lease = 0.2
    read = dead_letter_queues.bounded

    def slowly(headers: dict[str, Any]) -> dict[str, Any]:
        time.sleep(lease * 2)  # a slow database or a long list: the first letter's lease runs out
        return read(headers)

    monkeypatch.setattr(dead_letter_queues, "bounded", slowly)
    spec = with_lease(parse_broker_url(broker_url), lease)

    assert [letter.task_id for letter in list_dead(spec, dead_queue)] == ["t0", "t1", "t2"]
    assert [letter.task_id for letter in list_dead(spec, dead_queue)] == ["t0", "t1", "t2"]


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
