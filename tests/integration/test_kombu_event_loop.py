"""A consumer driven by Kombu's event loop (``kombu.asynchronous.Hub``) on arame's transports.

Redis delivers through the loop, as Kombu's own Redis transport does; the others refuse to be
registered with one, with a clear error, instead of delivering nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu import Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub

import arame
from arame.transport import parse_broker_url
from arame.transport.connection import Connection, connect

REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture
def hub() -> Iterator[Hub]:
    loop = Hub()
    yield loop
    loop.close()


def run_until(hub: Hub, done: Callable[[], bool], within: float = 5.0) -> None:
    """Turn the loop until ``done()`` or ``within`` seconds passed."""
    deadline = time.monotonic() + within
    while not done() and time.monotonic() < deadline:
        hub.run_once()


def publish(connection: Connection, queue: Queue, *bodies: Any) -> None:
    with connection.clone() as publisher:
        producer = Producer(publisher)
        for body in bodies:
            producer.publish(body, routing_key=queue.name, declare=[queue])


@pytest.mark.redis
@pytest.mark.parametrize("broker_url", [REDIS], ids=["redis"])
def test_a_hub_driven_consumer_on_redis_gets_what_waited_and_acks_from_another_thread(broker_url, queue, hub):
    bound = Queue(queue, routing_key=queue)
    connection = connect(parse_broker_url(broker_url))
    acked: list[Any] = []

    def ack(message: Any) -> None:
        message.ack()
        acked.append(message.payload)

    def on_message(body: Any, message: Any) -> None:
        # Kombu's own test does this: the ack comes back to the loop from a timer thread.
        threading.Timer(0.05, hub.call_soon, (ack, message)).start()

    try:
        publish(connection, bound, 0, 1)
        with Consumer(connection, [bound], callbacks=[on_message], prefetch_count=1, accept=["json"]):
            connection.register_with_event_loop(hub)
            run_until(hub, lambda: len(acked) == 2)
        assert acked == [0, 1]
    finally:
        connection.release()


@pytest.mark.redis
@pytest.mark.parametrize("broker_url", [REDIS], ids=["redis"])
def test_a_hub_driven_consumer_on_redis_is_woken_by_a_message_published_as_it_waits(broker_url, queue, hub):
    bound = Queue(queue, routing_key=queue)
    connection = connect(parse_broker_url(broker_url))
    got: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        got.append((body, time.monotonic()))
        message.ack()

    try:
        with Consumer(connection, [bound], callbacks=[on_message], accept=["json"]):
            connection.register_with_event_loop(hub)
            run_until(hub, lambda: False, within=0.3)  # idle: subscribed, nothing there
            sent = time.monotonic()
            publish(connection, bound, {"n": "late"})
            run_until(hub, lambda: bool(got))
        assert [body for body, _ in got] == [{"n": "late"}]
        # Woken through the loop's poll on the subscription's socket, not by a 1 s fallback poll.
        assert got[0][1] - sent < 0.5
    finally:
        connection.release()


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_transport_without_an_event_loop_refuses_to_be_registered_with_one(kind, tmp_path, hub):
    url = {"sqlite": f"sqlite:///{tmp_path}/broker.db", "memory": "memory://"}[kind]
    connection = connect(parse_broker_url(url))
    try:
        with pytest.raises(arame.ConfigurationError, match=r"event loop.*drain_events"):
            connection.register_with_event_loop(hub)
        assert not connection.transport.implements.asynchronous
    finally:
        connection.release()


@pytest.mark.redis
@pytest.mark.parametrize("broker_url", [REDIS], ids=["redis"])
def test_a_hub_driven_consumer_on_redis_receives_a_fanout_message(broker_url, new_queue, hub):
    exchange = Exchange(new_queue(), type="fanout", durable=False)
    bound = Queue(new_queue(), exchange=exchange, durable=False)
    connection = connect(parse_broker_url(broker_url))
    got: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        got.append(body)
        message.ack()

    try:
        with Consumer(connection, [bound], callbacks=[on_message], accept=["json"]):
            connection.register_with_event_loop(hub)
            with connection.clone() as publisher:
                Producer(publisher).publish({"to": "all"}, exchange=exchange, declare=[exchange])
            run_until(hub, lambda: bool(got))
        assert got == [{"to": "all"}]
    finally:
        connection.release()
