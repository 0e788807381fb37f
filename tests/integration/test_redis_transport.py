"""arame's own Redis transport: priorities, leases, renewal, release on close, crash recovery, TLS."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import arame
from arame.transport import BrokerSpec, Publisher, Subscriber, parse_broker_url, purge_queues
from arame.transport import queue_sizes as broker_queue_sizes
from arame.transport.connection import connect, kombu_queue
from arame.transport.redis_queue import Transport
from tests.helpers import Inbox, inboxes, wait_until

pytestmark = pytest.mark.redis

URL = "redis://127.0.0.1:6379/15"
SHORT_LEASE = 1.0


def broker(**options: Any) -> BrokerSpec:
    """The test broker, with transport options added (``lease_seconds`` above all)."""
    spec = parse_broker_url(URL)
    return dataclasses.replace(spec, options={**spec.options, **options})


def keys_of(queue: str) -> list[str]:
    """Every Redis key arame keeps for ``queue``."""
    client = redis.Redis.from_url(URL, decode_responses=True)
    try:
        return sorted(client.scan_iter(match=f"arame:{{{queue}}}:*"))
    finally:
        client.close()


@pytest.fixture
def new_queue() -> Iterator[Callable[[], str]]:
    """Fresh queue names; their keys (and their dead-letter queues' keys) are deleted afterwards."""
    created: list[str] = []

    def new() -> str:
        created.append(f"arame-test-{uuid.uuid4().hex}")
        return created[-1]

    yield new
    client = redis.Redis.from_url(URL)
    try:
        for name in created:
            for pattern in (f"arame:{{{name}}}:*", f"arame:{{{name}.dead}}:*"):
                keys = list(client.scan_iter(match=pattern))
                if keys:
                    client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    publisher = Publisher(broker())
    yield publisher
    publisher.close()


@pytest.fixture
def inbox(queue: str) -> Iterator[Callable[..., Inbox]]:
    """Open inboxes (on ``queue`` unless told otherwise); those still open are closed at teardown."""

    def make(
        prefetch: int = 10, lease: float | None = None, queues: list[str] | None = None, renew: bool = True
    ) -> Inbox:
        spec = broker() if lease is None else broker(lease_seconds=lease)
        return Inbox(spec, queues or [queue], prefetch, renew=renew)

    with inboxes(make) as open_inbox:
        yield open_inbox


def test_every_redis_url_uses_arames_own_transport():
    assert connect(parse_broker_url("redis://127.0.0.1:6379/15")).transport_cls is Transport
    assert connect(parse_broker_url("rediss://127.0.0.1:6380/0")).transport_cls is Transport
    assert (
        connect(parse_broker_url("redis+cluster://127.0.0.1:7001,127.0.0.1:7002")).transport_cls is Transport
    )
    sentinel = parse_broker_url("sentinel://127.0.0.1:26379?master_name=main")
    assert connect(sentinel).transport_cls is Transport


def test_messages_of_one_priority_arrive_in_order_and_higher_priorities_first(publisher, queue, inbox):
    for priority in (0, 5, 9):
        for n in range(3):
            publisher.publish(json.dumps(f"{priority}-{n}"), queue, priority=priority)
    publisher.publish(json.dumps("none"), queue)
    box = inbox(prefetch=1)

    for n in range(1, 11):
        box.receive(n)[-1].ack()

    assert box.bodies() == [f"{p}-{n}" for p in (9, 5, 0) for n in range(3)] + ["none"]
    assert [d.deliveries for d in box.deliveries] == [1] * 10
    assert not any(d.redelivered for d in box.deliveries)


def test_an_acknowledged_message_leaves_no_key_behind(publisher, queue, inbox):
    for priority in (1, 7):
        publisher.publish('"x"', queue, priority=priority)
    assert keys_of(queue)

    box = inbox()
    for delivery in box.receive(2):
        delivery.ack()
    box.subscriber.flush()  # acknowledgements are sent in batches

    assert len(box.deliveries) == 2
    assert keys_of(queue) == []


def test_an_unacked_message_comes_back_after_its_lease_runs_out_flagged_redelivered(publisher, queue, inbox):
    publisher.publish('"lost"', queue)
    holder = inbox(lease=SHORT_LEASE, renew=False)  # frozen: its lease runs out
    [first] = holder.receive(1)
    fetched_at = time.monotonic()
    other = inbox(lease=SHORT_LEASE)

    assert other.receive_for(SHORT_LEASE / 2) == [], "delivered twice while its lease was live"
    [again] = other.receive(1, within=SHORT_LEASE + 5)

    assert time.monotonic() - fetched_at >= SHORT_LEASE * 0.9
    assert again.decode() == "lost"
    assert (first.redelivered, first.deliveries) == (False, 1)
    assert (again.redelivered, again.deliveries) == (True, 2)
    again.ack()
    other.subscriber.flush()  # acknowledgements are sent in batches
    holder.subscriber.close()  # its lease is gone: closing must not put the message back
    assert keys_of(queue) == []


def test_a_renewed_lease_keeps_a_long_running_message_from_another_subscriber(publisher, queue, inbox):
    publisher.publish('"long"', queue)
    holder = inbox(lease=SHORT_LEASE)
    [held] = holder.receive(1)
    other = inbox(lease=SHORT_LEASE)

    # Held for four lease lengths, the holder never draining: its renewing thread keeps it.
    assert other.receive_for(SHORT_LEASE * 4) == []

    held.ack()
    holder.subscriber.flush()  # acknowledgements are sent in batches
    assert other.receive_for(SHORT_LEASE * 1.5) == []
    assert keys_of(queue) == []


def test_closing_a_subscriber_gives_its_held_messages_back_at_once_in_order(publisher, queue, inbox):
    sent = [f"m{n}" for n in range(3)]
    for body in sent:
        publisher.publish(json.dumps(body), queue)
    holder = inbox(prefetch=3, lease=30.0)  # a long lease: only the close can bring them back soon
    assert len(holder.receive(3)) == 3
    other = inbox(prefetch=3)
    assert other.receive_for(0.2) == []

    started = time.monotonic()
    holder.subscriber.close()
    received = other.receive(3, within=5)

    assert time.monotonic() - started < 5
    assert other.bodies() == sent
    assert [(d.redelivered, d.deliveries) for d in received] == [(True, 2)] * 3
    for delivery in received:
        delivery.ack()
    other.subscriber.flush()  # acknowledgements are sent in batches
    assert keys_of(queue) == []


def test_a_message_fetched_without_acknowledgement_is_gone_at_once(publisher, queue):
    publisher.publish('"once"', queue)
    spec = broker(lease_seconds=SHORT_LEASE)
    connection = connect(spec)
    try:
        message = kombu_queue(spec, queue)(connection.default_channel).get(no_ack=True)
    finally:
        connection.release()

    assert message is not None and message.decode() == "once"
    assert keys_of(queue) == []


def test_a_requeued_message_goes_back_to_the_head_of_its_queue(publisher, queue, inbox):
    publisher.publish('"first"', queue)
    publisher.publish('"second"', queue)
    box = inbox(prefetch=1)

    box.receive(1)[0].requeue()
    box.receive(2)[1].ack()

    assert box.bodies()[:2] == ["first", "first"]
    assert box.deliveries[1].deliveries == 2
    box.receive(3)[2].ack()
    assert box.bodies() == ["first", "first", "second"]


def test_a_holder_whose_lease_ran_out_cannot_requeue_what_another_subscriber_holds(publisher, queue, inbox):
    publisher.publish('"contested"', queue)
    stale = inbox(lease=SHORT_LEASE, renew=False)  # frozen: its lease runs out
    [old] = stale.receive(1)
    current = inbox(lease=SHORT_LEASE)
    [new] = current.receive(1, within=SHORT_LEASE + 5)

    old.requeue()

    third = inbox(lease=SHORT_LEASE)
    assert third.receive_for(0.5, heartbeat=current) == [], "requeued by a holder that no longer held it"
    assert broker_queue_sizes(broker(), [queue]) == {queue: 0}
    new.ack()
    current.subscriber.flush()  # acknowledgements are sent in batches
    assert keys_of(queue) == []


def test_queue_sizes_count_ready_and_expired_messages_and_purge_deletes_them(publisher, queue, inbox):
    for n in range(3):
        publisher.publish(json.dumps(n), queue)
    holder = inbox(prefetch=1, lease=SHORT_LEASE, renew=False)  # frozen: its lease runs out
    holder.receive(1)

    assert broker_queue_sizes(broker(), [queue]) == {queue: 2}
    wait_until(
        lambda: broker_queue_sizes(broker(), [queue]) == {queue: 3},
        SHORT_LEASE + 10,
        "the message whose lease expired is counted ready again",
    )

    assert purge_queues(broker(), [queue]) == {queue: 3}
    holder.subscriber.close()
    assert keys_of(queue) == []


HOLD_ONE = """
import dataclasses, sys
from arame.transport import Subscriber, parse_broker_url

url, queue, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
spec = dataclasses.replace(parse_broker_url(url), options={"lease_seconds": lease})
got = []
subscriber = Subscriber(spec, [queue], 1, got.append)
subscriber.open()
while not got:
    subscriber.drain(0.1)
print(got[0]._message.delivery_tag, flush=True)
sys.stdin.read()  # hold the delivery, unacked, until this process is killed
"""


def test_a_message_held_by_a_killed_process_comes_back_after_the_lease(publisher, queue, inbox):
    publisher.publish('"orphan"', queue)
    command = [sys.executable, "-c", HOLD_ONE, URL, queue, str(SHORT_LEASE)]
    holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert select.select([holder.stdout], [], [], 30)[0], "the holding process did not report"
        tag = holder.stdout.readline().strip()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        holder.stdin.close()
        holder.stdout.close()
    assert tag

    survivor = inbox(lease=SHORT_LEASE)
    [delivery] = survivor.receive(1, within=SHORT_LEASE + 5)

    assert delivery.decode() == "orphan"
    assert (delivery.redelivered, delivery.deliveries) == (True, 2)
    delivery.ack()
    survivor.subscriber.flush()  # acknowledgements are sent in batches
    assert keys_of(queue) == []


def _close_in_child(subscriber: Subscriber, publisher: Publisher, queue: str) -> None:
    subscriber.close()  # the parent's held message must stay the parent's
    publisher.publish('"from the child"', queue)  # on a client of its own, not the parent's sockets
    os._exit(0)


def test_a_forked_child_neither_releases_its_parents_leases_nor_uses_its_sockets(publisher, queue, inbox):
    publisher.publish('"held by the parent"', queue)
    parent = inbox(prefetch=1)
    [held] = parent.receive(1)

    child = multiprocessing.get_context("fork").Process(
        target=_close_in_child, args=(parent.subscriber, publisher, queue)
    )
    child.start()
    child.join(30)

    assert child.exitcode == 0
    other = inbox()
    assert [d.decode() for d in other.receive(1)] == ["from the child"]
    assert other.receive_for(0.3) == other.deliveries[:1], "the child released the parent's lease"
    held.ack()  # the parent's connection still works
    publisher.publish('"after"', queue)
    assert [d.decode() for d in other.receive(2)] == ["from the child", "after"]
    for delivery in other.deliveries:
        delivery.ack()


def test_an_idle_subscriber_gets_a_published_message_at_once(new_queue, inbox):
    queues = [new_queue(), new_queue()]
    box = inbox(prefetch=1, queues=queues)
    box.receive_for(0.2)  # subscribed and idle
    sender = Publisher(broker())
    latencies: list[float] = []
    try:
        for n in range(20):
            published: list[float] = []

            def publish(n: int = n, published: list[float] = published) -> None:
                time.sleep(0.05)  # the subscriber is blocked in its wait by now
                published.append(time.perf_counter())
                sender.publish(json.dumps(n), queues[n % 2])

            thread = threading.Thread(target=publish)
            thread.start()
            while len(box.deliveries) <= n:
                box.subscriber.drain(5.0)
            latencies.append(time.perf_counter() - published[0])
            thread.join()
            box.deliveries[-1].ack()
    finally:
        sender.close()

    assert box.bodies() == list(range(20))
    print(
        f"\npublish -> delivery on an idle subscriber: median {statistics.median(latencies) * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms over {len(latencies)}"
    )


def test_publishing_to_an_unreachable_redis_raises_transport_error():
    publisher = Publisher(parse_broker_url("redis://:secret@127.0.0.1:1/0"), max_retries=1)
    try:
        with pytest.raises(arame.TransportError) as caught:
            publisher.publish("{}", "nowhere")
    finally:
        publisher.close()
    assert "secret" not in str(caught.value)


def test_subscribing_to_an_unreachable_redis_raises_transport_error():
    subscriber = Subscriber(parse_broker_url("redis://127.0.0.1:1/0"), ["nowhere"], 1, lambda d: None)
    with pytest.raises(arame.TransportError):
        subscriber.open()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test's own, on a free port, that the test may stop and start."""

    def __init__(self, folder: Path, *options: str, tls: bool = False) -> None:
        if not shutil.which("redis-server"):
            pytest.skip("needs redis-server")
        self.folder, self.tls, self.port = folder, tls, _free_port()
        port_options = ("--port", "0", "--tls-port", str(self.port)) if tls else ("--port", str(self.port))
        self.command = [
            "redis-server", *port_options, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(folder), *options,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=self.folder, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    pytest.skip(f"could not start {' '.join(self.command)}")
                time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A private Redis speaking TLS only, with a certificate from a CA of its own: (port, CA file)."""
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    key = ("-newkey", "rsa:2048", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test CA")
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "san.cnf",
    )  # fmt: skip
    server = PrivateRedis(
        tmp_path,
        "--tls-cert-file", "server.pem", "--tls-key-file", "server.key",
        "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no",
        tls=True,
    )  # fmt: skip
    server.start()
    yield server.port, tmp_path / "ca.pem"
    server.stop()


def test_a_lost_server_raises_transport_error_and_both_sides_recover_when_it_is_back(private_redis):
    spec = parse_broker_url(f"redis://127.0.0.1:{private_redis.port}/0")
    publisher = Publisher(spec, max_retries=1)
    box = Inbox(spec, ["restart"], 1)
    try:
        box.receive_for(0.2)  # idle, subscribed to its wake-ups
        private_redis.stop()

        with pytest.raises(arame.TransportError, match="lost the connection"):
            box.receive_for(1.0)
        with pytest.raises(arame.TransportError):
            publisher.publish('"while down"', "restart")

        private_redis.start()
        box.subscriber.open()
        publisher.publish('"after the restart"', "restart")
        [delivery] = box.receive(1)
        assert delivery.decode() == "after the restart"
        delivery.ack()

        # A quick restart between two calls: the pooled sockets are dead, a fresh one is used.
        private_redis.stop()
        private_redis.start()
        publisher.publish('"after a quick restart"', "restart")
        assert [d.decode() for d in box.receive(2, within=5)][1:] == ["after a quick restart"]
        box.deliveries[1].ack()
    finally:
        box.subscriber.close()
        publisher.close()


def test_rediss_urls_speak_tls_and_pass_their_certificate_options(tls_redis):
    port, ca = tls_redis
    spec = parse_broker_url(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}")
    publisher = Publisher(spec)
    try:
        publisher.publish('"over tls"', "tls")
    finally:
        publisher.close()
    box = Inbox(spec, ["tls"], 1)
    try:
        [delivery] = box.receive(1)
        assert delivery.decode() == "over tls"
        delivery.ack()
    finally:
        box.subscriber.close()

    untrusted = Publisher(
        parse_broker_url(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required"), max_retries=0
    )
    try:
        with pytest.raises(arame.TransportError, match="certificate verify failed"):
            untrusted.publish('"refused"', "tls")
    finally:
        untrusted.close()
