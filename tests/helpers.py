"""Helpers the test suites share: an Inbox on broker queues, polling until something holds, and a
worker running on a thread for the length of a block."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
