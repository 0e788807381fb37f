"""Kombu's own contract on arame's transports: failover, clones, pools and exchange types."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import kombu
import pytest
from kombu import Exchange, Queue, pidbox

import arame
from arame.transport import Delivery, Publisher, Subscriber, parse_broker_url
from arame.transport.connection import connect, kombu_queue

REDIS = "redis://127.0.0.1:6379/15"
DEAD_REDIS = "redis://127.0.0.1:1/15"  # nothing listens on port 1: refused at once


def receive(broker_url: str, queue: str, count: int, within: float = 10.0) -> list[Delivery]:
    """Consume ``queue`` with arame's subscriber until ``count`` messages arrived or time ran out."""
    got: list[Delivery] = []
    subscriber = Subscriber(parse_broker_url(broker_url), [queue], 10, got.append)
    subscriber.open()
    try:
        deadline = time.monotonic() + within
        while len(got) < count and time.monotonic() < deadline:
            subscriber.drain(0.1)
        subscriber.acknowledge(got)
        subscriber.flush()
    finally:
        subscriber.close()
    return got


@pytest.mark.redis
@pytest.mark.parametrize("broker_url", [REDIS], ids=["redis"])
def test_a_failover_url_stays_on_arames_redis_transport_when_the_first_address_is_dead(broker_url, queue):
    publisher = Publisher(parse_broker_url(f"{DEAD_REDIS};{broker_url}"))
    try:
        publisher.publish('"after failover"', queue)
        assert type(publisher._connection.transport).__module__.startswith("arame.")
    finally:
        publisher.close()

    received = receive(broker_url, queue, 1)

    assert [d.decode() for d in received] == ["after failover"]


@pytest.mark.parametrize(
    "url",
    ["sqlite:///a.db;sqlite:///b.db", "redis://a:6379/0;sentinel://b:26379", "memory://;memory://"],
)
def test_a_failover_list_arame_cannot_serve_is_refused_with_a_clear_error(url):
    with pytest.raises(arame.ConfigurationError, match="failover"):
        parse_broker_url(url)


def test_messages_published_through_a_clone_and_a_pooled_connection_reach_arames_consumer(
    broker_url, broker_kind, queue
):
    if broker_kind == "memory":
        pytest.skip("memory:// queues are shared by every connection of the process anyway")
    spec = parse_broker_url(broker_url)
    connection = connect(spec)
    pool = connection.Pool(2)
    try:
        with connection.clone() as clone:
            clone.Producer().publish("clone", routing_key=queue, declare=[kombu_queue(spec, queue)])
        with pool.acquire(block=True) as pooled:
            pooled.Producer().publish("pool", routing_key=queue, declare=[kombu_queue(spec, queue)])
    finally:
        pool.force_close_all()
        connection.release()

    received = receive(broker_url, queue, 2)

    assert sorted(d.raw_body.decode() for d in received) == ["clone", "pool"]


@pytest.mark.parametrize("kind", ["fanout", "headers"])
def test_an_exchange_type_is_either_delivered_or_refused_at_declaration(broker_url, broker_kind, queue, kind):
    spec = parse_broker_url(broker_url)
    connection = connect(spec)
    exchange = Exchange(f"{queue}-{kind}", type=kind, durable=False, auto_delete=True)
    bound = Queue(queue, exchange=exchange, routing_key=queue, durable=False, auto_delete=True)
    try:
        try:
            bound(connection.default_channel).declare()
        except arame.ConfigurationError as exc:
            assert broker_kind != "amqp"
            assert kind in str(exc) and "lost" in str(exc)
            return
        with connection.Consumer(bound, accept=["json"]) as consumer:
            got: list[object] = []
            consumer.register_callback(lambda body, message: (got.append(body), message.ack()))
            # Consuming first: on Redis a fanout message reaches only the queues consumed then.
            connection.Producer().publish({"via": kind}, exchange=exchange, routing_key=queue)
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    connection.drain_events(timeout=0.2)
        assert got == [{"via": kind}], f"a {kind} exchange was declared but lost its message"
    finally:
        try:
            bound(connection.default_channel).delete()
        finally:
            connection.release()


def drain_until(connections: list[kombu.Connection], done: Callable[[], bool], within: float = 5.0) -> None:
    """Drain each of ``connections`` in turn until ``done()`` or ``within`` seconds passed."""
    deadline = time.monotonic() + within
    while not done() and time.monotonic() < deadline:
        for connection in connections:
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=0.05)


@pytest.mark.redis
@pytest.mark.parametrize("broker_url", [REDIS], ids=["redis"])
def test_one_publish_to_a_fanout_exchange_on_redis_reaches_every_queue_consumed(broker_url, new_queue):
    spec = parse_broker_url(broker_url)
    exchange = Exchange(new_queue(), type="fanout", durable=False)
    queues = [Queue(new_queue(), exchange=exchange, durable=False) for _ in range(2)]
    consumers = [connect(spec) for _ in queues]  # two consumers, as two processes would be
    got: dict[str, list[object]] = {bound.name: [] for bound in queues}
    try:
        with contextlib.ExitStack() as stack:
            for connection, bound in zip(consumers, queues, strict=True):
                consumer = stack.enter_context(connection.Consumer(bound, accept=["json"]))
                consumer.register_callback(
                    lambda body, message, name=bound.name: (got[name].append(body), message.ack())
                )
            with connect(spec) as publisher:
                publisher.Producer().publish(
                    {"to": "all"}, exchange=exchange, routing_key="any", declare=[exchange]
                )
            drain_until(consumers, lambda: all(got.values()))
            drain_until(consumers, lambda: False, within=0.3)  # and no second copy comes
        assert got == {bound.name: [{"to": "all"}] for bound in queues}
    finally:
        for connection in consumers:
            connection.release()


@pytest.mark.redis
@pytest.mark.parametrize("broker_url", [REDIS], ids=["redis"])
def test_a_kombu_pidbox_broadcast_on_redis_reaches_every_listening_node(broker_url, new_queue):
    spec = parse_broker_url(broker_url)
    mailbox = pidbox.Mailbox(new_queue(), type="fanout", accept=["json"])
    nodes = {name: connect(spec) for name in ("node-1", "node-2")}
    pinged: list[tuple[str, object]] = []
    try:
        for name, connection in nodes.items():
            handler = lambda state, name=name, **kwargs: pinged.append((name, kwargs))  # noqa: E731
            node = mailbox(connection).Node(
                name, channel=connection.default_channel, handlers={"ping": handler}
            )
            node.listen()
        with connect(spec) as caller:
            mailbox(caller)._broadcast("ping", arguments={"n": 1})
        drain_until(list(nodes.values()), lambda: len(pinged) == 2)
        assert sorted(pinged) == [("node-1", {"n": 1}), ("node-2", {"n": 1})]
    finally:
        for connection in nodes.values():
            connection.release()
