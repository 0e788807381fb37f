"""Everything that touches Kombu: URLs, connections, queues, publishing and consuming."""

from arame.transport.admin import (
    check_broker,
    dead_sizes,
    delayed_sizes,
    in_flight_sizes,
    purge_queues,
    queue_sizes,
)
from arame.transport.broker_urls import (
    DEFAULT_LEASE_SECONDS,
    BrokerSpec,
    database_url,
    default_database_url,
    parse_broker_url,
    redact_url,
    with_lease,
    with_queue_types,
)
from arame.transport.dead_letter_queues import DeadLetter, list_dead, requeue_dead
from arame.transport.delivery import NOT_BEFORE, Delivery, dead_letter_queue
from arame.transport.exposure import exposed_hosts
from arame.transport.memory import reset_memory_transport
from arame.transport.publisher import Outgoing, Publisher
from arame.transport.queue_contents import held_task_ids, queue_idle
from arame.transport.sizes import SizeReader
from arame.transport.subscriber import Subscriber

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "NOT_BEFORE",
    "BrokerSpec",
    "DeadLetter",
    "list_dead",
    "requeue_dead",
    "check_broker",
    "dead_sizes",
    "delayed_sizes",
    "held_task_ids",
    "queue_idle",
    "in_flight_sizes",
    "purge_queues",
    "queue_sizes",
    "Delivery",
    "Outgoing",
    "Publisher",
    "SizeReader",
    "Subscriber",
    "database_url",
    "dead_letter_queue",
    "exposed_hosts",
    "default_database_url",
    "parse_broker_url",
    "redact_url",
    "reset_memory_transport",
    "with_lease",
    "with_queue_types",
]
