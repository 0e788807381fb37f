"""Delayed delivery on every transport: a message published with ``not_before`` waits in the broker.

Each test publishes through ``Publisher.publish(..., not_before=...)`` and watches with
``Subscriber``: the message never arrives early, arrives on its own once due (no consumer holds
it meanwhile), keeps its place behind messages published before it became due, keeps its priority
and survives every consumer closing or dying.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

import arame
from arame.transport import (
    Publisher,
    delayed_sizes,
    parse_broker_url,
    queue_sizes,
)
from arame.transport.amqp_delay import MAX_BUCKET_MS, bucket_ms
from arame.transport.connection import connect, kombu_queue
from arame.transport.delivery import NOT_BEFORE
from tests.cleanup import delete_delay_queues
from tests.helpers import held_by_a_killed_consumer, wait_until

DELAY = 1.5  # seconds: long enough to tell "early" from "on time" on every transport
#: How late a due message may arrive in these tests: the transports do far better (see
#: docs/scheduling.md); this only has to catch "it waited for something else", on a busy machine.
LATE_AT_MOST = 1.0
SHORT_LEASE = 2.0
LONGEST_DELAY_MS = 61_000  # the longest delay a test here publishes, for cleanup


@pytest.fixture
def broker_kind(broker_url: str) -> str:
    return parse_broker_url(broker_url).kind


@pytest.fixture
def queue(broker_url: str, new_queue: Callable[[], str]) -> Iterator[str]:
    """A fresh queue; afterwards it is deleted with its dead letters and delayed messages."""
    name = new_queue()
    yield name
    delete_delay_queues(broker_url, name, LONGEST_DELAY_MS)


def test_a_delayed_message_is_not_delivered_before_its_time_but_soon_after(
    broker_url, broker_kind, publisher, queue, inbox
):
    box = inbox()
    not_before = time.time() + DELAY
    publisher.publish(json.dumps("later"), queue, not_before=not_before)

    box.receive(1, within=DELAY + 10)

    assert len(box.received) == 1, "the delayed message never arrived"
    [(delivery, delivered_at)] = box.received
    assert delivered_at >= not_before, f"delivered {not_before - delivered_at:.3f}s early"
    assert delivered_at - not_before < LATE_AT_MOST
    assert delivery.decode() == "later"
    assert delivery.not_before == not_before
    # Waiting is not a delivery: RabbitMQ's dead-lettered copy carries x-death, but is not redelivered.
    assert not delivery.redelivered
    delivery.ack()


def test_a_delayed_message_is_counted_as_delayed_not_ready(broker_url, broker_kind, publisher, queue):
    spec = parse_broker_url(broker_url)
    publisher.publish(json.dumps("now"), queue)
    publisher.publish(json.dumps("later"), queue, not_before=time.time() + 60)

    assert queue_sizes(spec, [queue]) == {queue: 1}
    # RabbitMQ cannot list the delay queues without its management plugin.
    assert delayed_sizes(spec, [queue]) == {queue: None if broker_kind == "amqp" else 1}


def test_an_immediate_message_published_after_a_delayed_one_arrives_first(
    broker_url, publisher, queue, inbox
):
    not_before = time.time() + DELAY
    publisher.publish(json.dumps("delayed"), queue, not_before=not_before)
    publisher.publish(json.dumps("immediate"), queue)
    box = inbox()

    box.receive(2, within=DELAY + 10)

    assert box.bodies() == ["immediate", "delayed"]
    assert box.received[0][1] < not_before <= box.received[1][1]
    for delivery, _ in box.received:
        delivery.ack()


def test_a_delayed_message_waits_in_the_broker_while_no_consumer_is_connected(
    broker_url, publisher, queue, inbox
):
    spec = parse_broker_url(broker_url)
    not_before = time.time() + DELAY
    publisher.publish(json.dumps("kept"), queue, not_before=not_before)
    first = inbox()
    assert first.receive(1, within=0.5) == [], "delivered before its time"
    first.subscriber.close()
    publisher.close()

    # No consumer at all: the broker makes it ready by itself once due.
    wait_until(lambda: queue_sizes(spec, [queue]) == {queue: 1}, DELAY + 10, "it never became ready")
    assert time.time() >= not_before
    second = inbox()

    [delivery] = second.receive(1, within=10)
    assert delivery.decode() == "kept"
    delivery.ack()


def test_a_delayed_message_keeps_its_priority_once_due(
    request, broker_url, broker_kind, publisher, queue, inbox
):
    if broker_kind == "memory":
        pytest.skip("memory:// has no priorities")
    spec = parse_broker_url(broker_url)
    publisher.publish(json.dumps("low-1"), queue, priority=1)
    publisher.publish(json.dumps("low-2"), queue, priority=1)
    publisher.publish(json.dumps("high"), queue, priority=9, not_before=time.time() + 1.0)
    wait_until(lambda: queue_sizes(spec, [queue]) == {queue: 3}, 10, "the delayed message never became ready")
    box = inbox(prefetch=1)

    for n in (1, 2, 3):
        box.receive(n, within=10)[-1].ack()

    assert box.bodies() == ["high", "low-1", "low-2"]


def test_a_due_message_whose_consumer_dies_unacked_comes_back(
    broker_url, broker_kind, publisher, queue, inbox
):
    if broker_kind == "memory":
        pytest.skip("memory:// queues live inside one process")
    not_before = time.time() + 1.0
    publisher.publish(json.dumps("held"), queue, not_before=not_before)
    held = held_by_a_killed_consumer(broker_url, queue, SHORT_LEASE)
    assert held.body == "held"
    assert held.at >= not_before

    survivor = inbox()

    [delivery] = survivor.receive(1, within=SHORT_LEASE + 8)
    assert delivery.decode() == "held"
    assert delivery.redelivered
    delivery.ack()


@pytest.mark.parametrize(
    "broker_url",
    [pytest.param("amqp://guest:guest@127.0.0.1:5672//", id="amqp", marks=pytest.mark.rabbitmq)],
    indirect=True,
)
def test_a_message_that_reaches_its_queue_before_its_time_waits_again(broker_url, queue, inbox):
    # What a delay beyond RabbitMQ's longest TTL does after its first 30 days; here, published raw.
    spec = parse_broker_url(broker_url)
    not_before = time.time() + 1.0
    connection = connect(spec)
    try:
        connection.Producer().publish(
            '"early"',
            exchange="",
            routing_key=queue,
            declare=[kombu_queue(spec, queue)],
            content_type="application/json",
            headers={NOT_BEFORE: not_before},
        )
    finally:
        connection.release()
    box = inbox()

    box.receive(1, within=10)
    [(delivery, delivered_at)] = box.received

    assert delivered_at >= not_before
    assert delivery.decode() == "early"
    delivery.ack()


def test_rabbitmq_delay_buckets_round_up_to_few_steps():
    assert [bucket_ms(ms) for ms in (0, 1, 10, 11, 999, 1_000, 1_001, 9_999)] == [
        10,
        10,
        10,
        20,
        1_000,
        1_000,
        1_100,
        10_000,
    ]
    assert bucket_ms(599_001) == 600_000
    assert bucket_ms(3_600_001) == 3_660_000
    assert bucket_ms(10**12) == MAX_BUCKET_MS
    buckets = {bucket_ms(ms) for ms in range(0, 600_000, 7)}
    assert len(buckets) == 100 + 90 + 590
    assert all(bucket_ms(ms) >= ms for ms in range(0, 600_000, 7))


@pytest.mark.parametrize("not_before", [float("nan"), float("inf"), "soon"])
def test_a_not_before_that_is_not_a_time_is_refused(not_before):
    publisher = Publisher(parse_broker_url("memory://"))
    try:
        with pytest.raises(arame.ConfigurationError, match="not_before"):
            publisher.publish("{}", "q", not_before=not_before)
    finally:
        publisher.close()
