"""What each transport can do, said once: the record every transport-specific branch reads."""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a broker's transport can do, as arame uses it.

    Attributes:
        delay_queues: delays through per-bucket TTL queues that dead-letter into the queue
            (RabbitMQ); elsewhere the transport's own channel holds and counts delayed messages.
        multiple_ack: one frame acknowledges a run of deliveries, and a redelivery is flagged
            but not counted, so arame counts it in a header (RabbitMQ).
        publish_transactions: publishes a batch as one transaction (RabbitMQ).
        priority_queue_argument: a queue takes priorities only when declared with
            ``x-max-priority`` (RabbitMQ).
        leases: a fetched message is leased and comes back when the lease expires (SQL, Redis).
        reports_idle: can tell that a queue holds no message, delivered or not (RabbitMQ).
        shared_across_processes: separate processes see the same queues (not ``memory://``).
    """

    delay_queues: bool
    multiple_ack: bool
    publish_transactions: bool
    priority_queue_argument: bool
    leases: bool
    reports_idle: bool
    shared_across_processes: bool


@functools.cache
def capabilities_of(kind: str) -> Capabilities:
    """The capabilities of a transport ``kind``."""
    amqp = kind == "amqp"
    return Capabilities(
        delay_queues=amqp,
        multiple_ack=amqp,
        publish_transactions=amqp,
        priority_queue_argument=amqp,
        leases=kind in {"sql", "redis"},
        reports_idle=amqp,
        shared_across_processes=kind != "memory",
    )
