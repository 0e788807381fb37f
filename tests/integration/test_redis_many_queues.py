"""The Redis transport consuming many queues at once: one fetch and one ack call serve them all."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import redis

from arame.transport import Publisher, parse_broker_url
from tests.cleanup import delete_queues, fresh_queue_name
from tests.helpers import Inbox, inboxes

pytestmark = pytest.mark.redis

URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def queues() -> Iterator[list[str]]:
    """Twenty fresh queues, deleted afterwards."""
    names = [fresh_queue_name("arame-test-many") for _ in range(20)]
    yield names
    delete_queues(URL, names)


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    publisher = Publisher(parse_broker_url(URL))
    yield publisher
    publisher.close()


@pytest.fixture
def inbox() -> Iterator[Callable[[list[str], int], Inbox]]:
    with inboxes(lambda queues, prefetch: Inbox(URL, queues, prefetch)) as open_inbox:
        yield open_inbox


def keys_left(queues: list[str]) -> list[str]:
    client = redis.Redis.from_url(URL, decode_responses=True)
    try:
        return [key for queue in queues for key in client.scan_iter(match=f"arame:{{{queue}}}:*")]
    finally:
        client.close()


def test_messages_spread_over_many_queues_arrive_within_the_prefetch_each_queue_in_order(
    publisher, queues, inbox
):
    for queue in queues:
        for n in range(5):
            publisher.publish(json.dumps(f"{queue}/{n}"), queue)
    box = inbox(queues, 7)

    # One fetch fills the window from all the queues, never past it.
    box.receive_for(0.3)
    assert len(box.deliveries) == 7
    acked = 0
    while acked < 100:
        for delivery in box.deliveries[acked:]:
            delivery.ack()
        acked = len(box.deliveries)
        box.receive(min(100, acked + 1), within=10)
    box.subscriber.flush()  # one call deletes what was acknowledged in every queue

    bodies = box.bodies()
    assert sorted(bodies) == sorted(f"{queue}/{n}" for queue in queues for n in range(5))
    for queue in queues:
        assert [b for b in bodies if b.startswith(f"{queue}/")] == [f"{queue}/{n}" for n in range(5)]
    assert keys_left(queues) == []


def test_a_queue_found_empty_is_asked_again_while_another_stays_busy(publisher, queues, inbox):
    busy, quiet = queues[0], queues[-1]
    for n in range(1000):
        publisher.publish(json.dumps(n), busy)
    box = inbox(queues, 100)
    bodies: list[object] = []

    def take(count: int) -> None:
        # Each delivery acknowledged at once: the window never fills, so only the fetches that
        # refill it (from all the queues) can find the quiet queue's message.
        wanted = len(box.deliveries) + count
        while len(box.deliveries) < wanted:
            box.subscriber.drain(1.0)
            for delivery in box.deliveries[len(bodies) :]:
                bodies.append(delivery.decode())
                delivery.ack()

    take(150)  # every other queue has been found empty by now
    published_at = len(bodies)
    publisher.publish(json.dumps("quiet"), quiet)
    while "quiet" not in bodies and len(bodies) < 1001:
        take(1)

    # It waited at most for the messages fetched ahead of it from the busy queue (a window).
    assert bodies.index("quiet") - published_at <= 250
