"""What each transport can do, said once: the record every transport-specific branch reads."""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a broker's transport can do, as arame uses it.

    Attributes:
        delayed_delivery: holds a message until it is due (all but Kombu's stock Redis
            transport, ``sentinel://``).
        delay_queues: delays through per-bucket TTL queues that dead-letter into the queue
            (RabbitMQ); elsewhere the transport's own channel holds and counts delayed messages.
        multiple_ack: one frame acknowledges a run of deliveries, and a redelivery is flagged
            but not counted, so arame counts it in a header (RabbitMQ).
        publish_transactions: publishes a batch as one transaction (RabbitMQ).
        priority_queue_argument: a queue takes priorities only when declared with
            ``x-max-priority`` (RabbitMQ).
        reversed_priority: serves priority 0 first, the reverse of arame's scale (Kombu's stock
            Redis transport).
        leases: a fetched message is leased and comes back when the lease expires (SQL, Redis).
        reports_idle: can tell that a queue holds no message, delivered or not (RabbitMQ).
        shared_across_processes: separate processes see the same queues (not ``memory://``).
    """

    delayed_delivery: bool
    delay_queues: bool
    multiple_ack: bool
    publish_transactions: bool
    priority_queue_argument: bool
    reversed_priority: bool
    leases: bool
    reports_idle: bool
    shared_across_processes: bool


@functools.cache
def capabilities_of(kind: str, scheme: str) -> Capabilities:
    """The capabilities of a transport ``kind`` reached through URL ``scheme``."""
    amqp = kind == "amqp"
    stock_redis = kind == "redis" and scheme not in {"redis", "rediss"}
    return Capabilities(
        delayed_delivery=not stock_redis,
        delay_queues=amqp,
        multiple_ack=amqp,
        publish_transactions=amqp,
        priority_queue_argument=amqp,
        reversed_priority=stock_redis,
        leases=kind in {"sql", "redis"},
        reports_idle=amqp,
        shared_across_processes=kind != "memory",
    )
