"""How late do delayed messages arrive? lateness = delivery time - not_before, per message.

Publishes ``-n`` messages whose ``not_before`` is spread evenly over ``--delay`` seconds (starting
``--lead`` seconds from now, so that every one is published before it is due), in random order,
to a fresh queue, while one subscriber is open on it. The subscriber drains (``--drain`` seconds
per call, 0.5 like an idle worker: a shorter one polls more often and hides a transport's own
waits) and acknowledges them as they come; each delivery's time is taken in its callback. Prints
p50 / p99 / max (and the minimum: a negative one would be an early delivery) per run, then the
median and min-max of each over runs (each run a fresh process, see ``common``).

    .venv/bin/python benchmarks/lateness.py --broker redis,rabbitmq,postgresql,sqlite -n 200 --delay 3

Publisher and subscriber run in one process, so both read the same clock. ``--results`` and
``-c`` are not used: no worker runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

import common

from arame.transport import Delivery, Publisher, Subscriber, parse_broker_url
from arame.transport.broker_urls import BrokerSpec

GRACE = 30.0  # seconds allowed past the last due time before a run gives up


@dataclass(frozen=True, slots=True)
class Run:
    """One run's lateness figures, in milliseconds.

    Attributes:
        p50: the median lateness.
        p99: the 99th percentile.
        max: the latest delivery.
        min: the earliest one (negative: delivered before its time).
        publish_seconds: how long publishing them all took.
        missing: messages that did not arrive within the grace period.
    """

    p50: float
    p99: float
    max: float
    min: float
    publish_seconds: float
    missing: int


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run on ``broker`` (``sqlite``: a fresh file)."""
    if args.n < 2 or args.delay <= 0 or args.lead < 0 or args.drain <= 0:
        raise SystemExit("-n must be at least 2, --delay and --drain positive, --lead not negative")
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/lateness.db" if broker == "sqlite" else broker
        run = measure_lateness(parse_broker_url(url), args.n, args.delay, args.lead, args.drain, args.seed)
    return {"p50": run.p50, "p99": run.p99, "max": run.max, "min": run.min, "missing": float(run.missing)}


def measure_lateness(
    spec: BrokerSpec, count: int, delay: float, lead: float, drain: float, seed: int | None
) -> Run:
    """Publish ``count`` delayed messages to a fresh queue, receive them all, return their lateness."""
    queue = f"arame-bench-lateness-{uuid.uuid4().hex}"
    lateness: list[float] = []

    def on_delivery(delivery: Delivery) -> None:
        arrived = time.time()
        assert delivery.not_before is not None, "a message arrived without its not_before"
        lateness.append((arrived - delivery.not_before) * 1000)
        delivery.ack()

    subscriber = Subscriber(spec, [queue], 10, on_delivery)
    publisher = Publisher(spec)
    try:
        subscriber.open()  # idle and waiting before anything is published, as a worker would be
        start = time.time() + lead
        due = [start + delay * (i + 1) / count for i in range(count)]
        random.Random(seed).shuffle(due)
        began = time.monotonic()
        for n, not_before in enumerate(due):
            publisher.publish(str(n), queue, not_before=not_before)
        published = time.monotonic() - began
        if time.time() > start:
            print(f"  warning: publishing took {published:.2f}s, past --lead {lead}s", file=sys.stderr)
        deadline = time.monotonic() + lead + delay + GRACE
        while len(lateness) < count and time.monotonic() < deadline:
            subscriber.drain(drain)
    finally:
        subscriber.close()
        publisher.close()
        common.delete_queue(spec, queue, delay + lead)
    return summarize(lateness, count, published)


def summarize(lateness: list[float], count: int, published: float) -> Run:
    """Percentiles of ``lateness`` (milliseconds)."""
    if len(lateness) < 2:
        raise SystemExit(f"only {len(lateness)} of {count} messages arrived")
    ordered = sorted(lateness)
    p99 = statistics.quantiles(ordered, n=100, method="inclusive")[98]
    return Run(statistics.median(ordered), p99, ordered[-1], ordered[0], published, count - len(ordered))


FIELDS = [
    ("p50", "{:7.1f}ms"),
    ("p99", "{:7.1f}ms"),
    ("max", "{:7.1f}ms"),
    ("min", "{:6.1f}ms"),
    ("missing", "{:3.0f}"),
]

if __name__ == "__main__":
    parser = common.parser(__doc__.splitlines()[0], n=200, brokers="redis,rabbitmq,postgresql,sqlite")
    parser.add_argument("--delay", type=float, default=3.0, help="seconds the due times spread over [3]")
    parser.add_argument("--lead", type=float, default=1.0, help="seconds before the first is due [1]")
    parser.add_argument("--drain", type=float, default=0.5, help="seconds per drain call [0.5]")
    parser.add_argument("--seed", type=int, default=None, help="seed of the publishing order [random]")
    common.main(parser, measure, FIELDS)
