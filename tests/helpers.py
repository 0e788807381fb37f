"""Helpers the test suites share: an Inbox on broker queues, polling until something holds, and a
worker running on a thread for the length of a block."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from arame.consumers import Worker
from arame.transport import BrokerSpec, Delivery, Subscriber, parse_broker_url

T = TypeVar("T")


class Inbox:
    """A subscriber on some queues and the deliveries it received, oldest first, with arrival times."""

    def __init__(
        self, broker: BrokerSpec | str, queues: list[str], prefetch: int, *, renew: bool = True
    ) -> None:
        spec = parse_broker_url(broker) if isinstance(broker, str) else broker
        self.deliveries: list[Delivery] = []
        self.arrived: list[float] = []  # time.time() of each delivery
        self.subscriber = Subscriber(spec, queues, prefetch, self._arrive, renew_leases=renew)
        self.subscriber.open()

    def _arrive(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.arrived.append(time.time())

    @property
    def received(self) -> list[tuple[Delivery, float]]:
        """Each delivery with the time it arrived."""
        return list(zip(self.deliveries, self.arrived, strict=True))

    def receive(self, count: int, within: float = 15.0) -> list[Delivery]:
        """Drain until ``count`` deliveries have arrived in all, or ``within`` seconds ran out."""
        deadline = time.monotonic() + within
        while len(self.deliveries) < count and time.monotonic() < deadline:
            self.subscriber.drain(0.05)
        return self.deliveries

    def receive_for(self, seconds: float, *, heartbeat: Inbox | None = None) -> list[Delivery]:
        """Drain for ``seconds`` whatever arrives (to show that nothing more does), keeping
        ``heartbeat``'s connection serviced meanwhile (its leases renew on a thread of their own)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if heartbeat is not None:
                heartbeat.subscriber.heartbeat()
            self.subscriber.drain(0.1)
        return self.deliveries

    def bodies(self) -> list[Any]:
        """The decoded bodies."""
        return [delivery.decode() for delivery in self.deliveries]

    def raw_bodies(self) -> list[str]:
        """The bodies as received."""
        return [delivery.raw_body.decode() for delivery in self.deliveries]


@contextmanager
def inboxes(make: Callable[..., Inbox]) -> Iterator[Callable[..., Inbox]]:
    """Open inboxes with ``make``; those still open are closed on exit (the ``inbox`` fixtures)."""
    opened: list[Inbox] = []

    def open_inbox(*args: Any, **kwargs: Any) -> Inbox:
        opened.append(make(*args, **kwargs))
        return opened[-1]

    try:
        yield open_inbox
    finally:
        for each in opened:
            each.subscriber.close()


def wait_until(condition: Callable[[], T], within: float, what: str, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {within:.0f}s")
        time.sleep(interval)


def rabbitmq_queues(column: str, node: str | None = None) -> dict[str, str]:
    """Queue name -> ``column`` (``messages``, ``type``, ``leader``...) as ``rabbitmqctl`` lists them.

    Read-only; ``node`` is a private node's name (default: the shared one).
    """
    target = ["-n", node] if node else []
    listing = subprocess.run(
        ["rabbitmqctl", *target, "list_queues", "--no-table-headers", "-q", "name", column],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return dict(line.split("\t", 1) for line in listing.splitlines() if "\t" in line)


@contextmanager
def running(worker: Worker, *, now: bool = False, timeout: float = 30.0) -> Iterator[Worker]:
    """Run ``worker`` on a thread for the block, then stop it (``now``: not waiting for its tasks)."""
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=timeout, now=now)


_HOLD_ONE = """
import json, sys, time
from arame.transport import Subscriber, parse_broker_url, with_lease

# A short lease (on the transports that lease) so that the test need not wait for the default.
spec = with_lease(parse_broker_url(sys.argv[1]), float(sys.argv[3]))
got = []
subscriber = Subscriber(spec, [sys.argv[2]], 1, got.append)
subscriber.open()
deadline = time.monotonic() + 30
while not got and time.monotonic() < deadline:
    subscriber.drain(0.05)
report = [time.time(), str(got[0]._message.delivery_tag), got[0].decode()] if got else None
print(json.dumps(report), flush=True)
sys.stdin.read()  # hold the delivery, unacked, until this process is killed
"""


@dataclass(frozen=True, slots=True)
class Held:
    """What a consumer process received before it was killed holding it unacknowledged."""

    at: float  # time.time() when it arrived
    tag: str  # its delivery tag
    body: Any  # its decoded body


def held_by_a_killed_consumer(broker_url: str, queue: str, lease: float) -> Held:
    """Receive one message from ``queue`` in a fresh process (leased for ``lease`` seconds), then
    SIGKILL that process with the delivery unacknowledged."""
    command = [sys.executable, "-c", _HOLD_ONE, broker_url, queue, str(lease)]
    consumer = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert consumer.stdin is not None and consumer.stdout is not None
    try:
        assert select.select([consumer.stdout], [], [], 60)[0], "the consumer process did not report"
        report = json.loads(consumer.stdout.readline() or "null")
    finally:
        os.kill(consumer.pid, signal.SIGKILL)
        consumer.wait(timeout=10)
        consumer.stdin.close()
        consumer.stdout.close()
    assert report is not None, "the consumer process received nothing"
    return Held(*report)
