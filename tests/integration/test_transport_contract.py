"""One contract every transport keeps: arame.transport's Publisher and Subscriber on each broker."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

import arame
from arame.transport import Outgoing, Publisher, Subscriber, parse_broker_url, queue_sizes
from arame.transport.connection import connect, kombu_queue
from tests.helpers import held_by_a_killed_consumer

STOCK_SQL_LOSES = (
    "Kombu's stock SQL transport hides a fetched message forever; replaced by arame's own SQL transport"
)
REDIS_WAITS = (
    "Kombu's Redis transport gives an unacked message back only after visibility_timeout (1 h by default)"
)


def bodies(count: int) -> list[str]:
    """JSON bodies easy to tell apart, with non-ASCII text to show they arrive intact."""
    return [json.dumps({"n": n, "text": f"café №{n} ✓"}, ensure_ascii=False) for n in range(count)]


def test_published_bodies_arrive_intact_and_in_order(publisher, queue, inbox):
    sent = bodies(5)
    for body in sent:
        publisher.publish(body, queue)

    received = inbox().receive(5)

    assert [d.raw_body.decode() for d in received] == sent
    assert [d.decode() for d in received] == [json.loads(body) for body in sent]
    assert {d.queue for d in received} == {queue}


def test_an_unacked_delivery_comes_back_after_its_subscriber_closes(publisher, queue, inbox):
    [body] = bodies(1)
    publisher.publish(body, queue)
    first = inbox()
    assert first.receive(1) and first.raw_bodies() == [body]

    first.subscriber.close()
    second = inbox()

    assert len(second.receive(1, within=5)) == 1, "the unacked message did not come back"
    assert second.raw_bodies() == [body]
    second.deliveries[0].ack()


def test_acknowledging_out_of_order_settles_exactly_the_acknowledged_deliveries(publisher, queue, inbox):
    sent = bodies(6)
    for body in sent:
        publisher.publish(body, queue)
    first = inbox()
    received = first.receive(6)
    assert len(received) == 6

    # A run from the oldest (0, 1) goes as one multiple-ack on RabbitMQ; 3 and 5 stand alone.
    first.subscriber.acknowledge([received[3], received[1]])
    first.subscriber.acknowledge([received[0], received[5]])
    first.subscriber.flush()
    first.subscriber.close()
    second = inbox()

    again = second.receive(2, within=10)
    assert sorted(d.raw_body.decode() for d in again) == sorted([sent[2], sent[4]])
    assert second.receive_for(0.5) == again, "an acknowledged message came back"
    second.subscriber.acknowledge(again)
    second.subscriber.flush()


def test_a_requeued_delivery_does_not_block_acknowledging_the_ones_after_it(
    broker_url, publisher, queue, inbox
):
    sent = bodies(3)
    for body in sent:
        publisher.publish(body, queue)
    box = inbox()
    received = box.receive(3)

    box.subscriber.requeue(received[0])
    box.subscriber.acknowledge(received[1:])
    box.subscriber.flush()

    again = box.receive(4, within=10)[3:]
    assert [d.raw_body.decode() for d in again] == [sent[0]]
    box.subscriber.acknowledge(again)
    box.subscriber.flush()
    box.subscriber.close()
    assert queue_sizes(parse_broker_url(broker_url), [queue]) == {queue: 0}


SHORT_LEASE = 2.0


def uses_stock_kombu_transport(broker_url: str) -> bool:
    """Whether arame reaches this broker through one of Kombu's own transports."""
    connection = connect(parse_broker_url(broker_url))
    try:
        return type(connection.transport).__module__.startswith("kombu.")
    finally:
        connection.release()


def test_an_unacked_delivery_comes_back_after_its_consumer_process_is_killed(
    request, broker_url, broker_kind, publisher, queue, inbox
):
    if broker_kind == "memory":
        pytest.skip("memory:// queues live inside one process")
    stock = broker_kind != "amqp" and uses_stock_kombu_transport(broker_url)
    if stock:
        reason = REDIS_WAITS if broker_kind == "redis" else STOCK_SQL_LOSES
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    [body] = bodies(1)
    publisher.publish(body, queue)
    held = held_by_a_killed_consumer(broker_url, queue, SHORT_LEASE)
    if stock and broker_kind == "redis":
        request.addfinalizer(lambda: forget_stock_redis_unacked(broker_url, held.tag))

    survivor = inbox()

    assert len(survivor.receive(1, within=SHORT_LEASE + 8)) == 1, "the killed consumer's message is lost"
    assert survivor.raw_bodies() == [body]
    assert survivor.deliveries[0].redelivered
    survivor.deliveries[0].ack()


def forget_stock_redis_unacked(broker_url: str, tag: str) -> None:
    """Drop a killed consumer's delivery from Kombu's unacked records, so it never comes back later."""
    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        client.hdel("unacked", tag)
        client.zrem("unacked_index", tag)
    finally:
        client.close()


def test_a_requeued_delivery_is_delivered_again(publisher, queue, inbox):
    [body] = bodies(1)
    publisher.publish(body, queue)
    box = inbox()
    box.receive(1)[0].requeue()

    again = box.receive(2)

    assert box.raw_bodies() == [body, body]
    again[1].ack()
    assert box.receive_for(0.3) == again, "an acknowledged message came back"


@pytest.mark.parametrize("order", ["first_to_last", "last_to_first"])
def test_requeued_deliveries_come_back_in_the_order_they_were_published(
    broker_kind, publisher, queue, inbox, order
):
    if broker_kind in {"amqp", "memory"}:
        pytest.skip(
            "RabbitMQ: a redelivered message is published again to count its deliveries, so it "
            "follows RabbitMQ's redelivery order; memory:// is Kombu's in-process queue"
        )
    sent = bodies(4)
    publisher.publish_many([Outgoing(body, queue) for body in sent])
    box = inbox()
    received = box.receive(4)

    for delivery in received if order == "first_to_last" else reversed(received):
        box.subscriber.requeue(delivery)
    again = box.receive(8)[4:]

    assert [d.raw_body.decode() for d in again] == sent
    box.subscriber.acknowledge(again)
    box.subscriber.flush()


def test_queue_sizes_count_ready_messages_but_not_unacked_ones(
    broker_url, publisher, queue, new_queue, inbox
):
    spec = parse_broker_url(broker_url)
    empty = new_queue()
    for body in bodies(3):
        publisher.publish(body, queue)

    assert queue_sizes(spec, [queue, empty]) == {queue: 3, empty: 0}

    box = inbox(prefetch=1)
    [delivery] = box.receive(1)
    assert queue_sizes(spec, [queue]) == {queue: 2}
    assert box.subscriber.queue_sizes() == {queue: 2}

    delivery.ack()
    for n in (2, 3):
        box.receive(n)[-1].ack()
    assert len(box.deliveries) == 3
    assert queue_sizes(spec, [queue]) == {queue: 0}


def test_prefetch_bounds_the_unacked_deliveries(publisher, queue, inbox):
    sent = bodies(5)
    for body in sent:
        publisher.publish(body, queue)
    box = inbox(prefetch=2)

    assert len(box.receive_for(1.0)) == 2

    box.deliveries[0].ack()
    assert len(box.receive_for(0.5)) == 3
    for n in range(3, 6):
        box.deliveries[n - 2].ack()
        box.receive(n)
    box.deliveries[-1].ack()
    assert box.raw_bodies() == sent


def test_a_message_that_is_not_json_is_refused_unread(broker_url, queue, inbox):
    spec = parse_broker_url(broker_url)
    connection = connect(spec)
    try:
        connection.Producer().publish(
            {"x": 1}, exchange="", routing_key=queue, declare=[kombu_queue(spec, queue)], serializer="pickle"
        )
    finally:
        connection.release()

    [delivery] = inbox().receive(1)

    with pytest.raises(arame.MessageError, match="content type"):
        delivery.decode()
    delivery.ack()


def test_a_json_message_whose_body_does_not_parse_is_refused(publisher, queue, inbox):
    publisher.publish("{not json", queue)

    [delivery] = inbox().receive(1)

    with pytest.raises(arame.MessageError):
        delivery.decode()
    assert delivery.raw_body == b"{not json"
    delivery.ack()


PRIORITY_BROKERS = [
    pytest.param("redis://127.0.0.1:6379/15", id="redis", marks=pytest.mark.redis),
    pytest.param("amqp://guest:guest@127.0.0.1:5672//", id="amqp", marks=pytest.mark.rabbitmq),
]


@pytest.mark.parametrize("broker_url", PRIORITY_BROKERS, indirect=True)
def test_a_higher_priority_published_later_is_delivered_first(publisher, queue, inbox):
    publisher.publish('"low"', queue, priority=1)
    publisher.publish('"high"', queue, priority=9)

    assert inbox(prefetch=1).receive(1)[0].decode() == "high"


@pytest.mark.parametrize("broker_url", PRIORITY_BROKERS, indirect=True)
def test_priorities_are_served_from_nine_down_to_zero(publisher, queue, inbox):
    for name, priority in [("zero", 0), ("three", 3), ("none", None), ("nine", 9), ("five", 5)]:
        publisher.publish(json.dumps(name), queue, priority=priority)
    box = inbox(prefetch=1)

    for n in range(1, 6):
        box.receive(n)[-1].ack()

    # A message without a priority is the lowest, after those published earlier at 0.
    assert [d.decode() for d in box.deliveries] == ["nine", "five", "three", "zero", "none"]


@pytest.mark.parametrize(
    "url",
    [
        "redis://:secret@127.0.0.1:1/0",
        "amqp://guest:secret@127.0.0.1:1//",
        "postgresql://postgres:secret@127.0.0.1:1/test",
        "mysql://root:secret@127.0.0.1:1/test",
    ],
    ids=["redis", "amqp", "postgres", "mysql"],
)
def test_publishing_to_an_unreachable_broker_raises_transport_error(url):
    publisher = Publisher(parse_broker_url(url), max_retries=1)
    try:
        with pytest.raises(arame.TransportError) as caught:
            publisher.publish("{}", "nowhere")
    finally:
        publisher.close()

    assert "secret" not in str(caught.value)
    assert "secret" not in caught.value.url


@pytest.mark.parametrize("action", ["publish", "subscribe"])
def test_a_new_sqlite_broker_file_waits_for_another_writer_instead_of_failing(tmp_path, action):
    path = tmp_path / "broker.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")  # another process is writing; the file is still in rollback mode
    release = threading.Timer(0.5, writer.execute, args=("ROLLBACK",))
    release.start()
    spec = parse_broker_url(f"sqlite:///{path}")
    publisher, subscriber = Publisher(spec), Subscriber(spec, ["q"], 1, lambda delivery: None)
    try:
        if action == "publish":
            publisher.publish("{}", "q")  # every other statement waits up to the busy timeout
        else:
            subscriber.open()
    finally:
        release.join()
        writer.close()
        publisher.close()
        subscriber.close()


def test_a_batch_is_stored_whole_or_not_at_all_where_the_broker_has_transactions(
    broker_kind, broker_url, publisher, queue
):
    if broker_kind not in {"amqp", "postgresql", "mysql"}:
        pytest.skip("Redis and memory:// store a batch one message after the other; SQLite takes any name")
    refused = "x" * 300  # longer than the SQL table's queue column; RabbitMQ refuses a name of 300 bytes
    batch = [Outgoing(body, queue) for body in bodies(3)] + [Outgoing(bodies(1)[0], refused)]
    with pytest.raises(arame.TransportError):
        publisher.publish_many(batch)
    assert queue_sizes(parse_broker_url(broker_url), [queue]) == {queue: 0}
