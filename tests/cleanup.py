"""Removing what a test made on the shared servers: its queues (with their dead letters), the
result rows filed under them, and the fair sub-queues registered for them.

Every test names its queues with a uuid (``fresh_queue_name``), so parallel tests never share one
and a test's cleanup never touches another's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from arame.coordination.flow_tables import fair_queues
from arame.database.database_urls import database_url
from arame.results.results_table import results as results_table
from arame.transport import BrokerSpec, parse_broker_url
from arame.transport.amqp_delay import bucket_ms, queue_name
from arame.transport.connection import connect, kombu_queue
from arame.transport.delivery import dead_letter_queue


def fresh_queue_name(prefix: str = "arame-test") -> str:
    """A queue name no other test (nor any other run) uses."""
    return f"{prefix}-{uuid.uuid4().hex}"


def delete_queues(broker: BrokerSpec | str, names: list[str]) -> None:
    """Empty and delete queues and their dead-letter queues.

    A purge first: Kombu's virtual transports delete only the queues bound to an exchange.
    """
    spec = parse_broker_url(broker) if isinstance(broker, str) else broker
    connection = connect(spec)
    try:
        channel = connection.default_channel
        for name in dict.fromkeys([*names, *map(dead_letter_queue, names)]):
            queue = kombu_queue(spec, name)(channel)
            queue.declare()
            queue.purge()
            queue.delete()
    finally:
        connection.release()


def delete_delay_queues(broker: BrokerSpec | str, name: str, longest_ms: int) -> None:
    """On RabbitMQ, delete the delay queues that messages to ``name`` delayed by at most
    ``longest_ms`` may have made (deleting one that does not exist is fine); elsewhere nothing."""
    spec = parse_broker_url(broker) if isinstance(broker, str) else broker
    if spec.kind != "amqp":
        return
    connection = connect(spec)
    try:
        channel = connection.default_channel
        for bucket in sorted({bucket_ms(ms) for ms in range(0, longest_ms + 10, 10)}):
            channel.queue_delete(queue_name(name, bucket))
    finally:
        connection.release()


def delete_result_rows(results_url: str, queues: list[str]) -> None:
    """Delete the rows of tasks published to ``queues``, if the results table exists."""
    engine = sa.create_engine(database_url(results_url))
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(results_table.name):
                conn.execute(results_table.delete().where(results_table.c.queue.in_(queues)))
    finally:
        engine.dispose()


def fair_subqueues(results_url: str, queues: list[str]) -> list[str]:
    """The fair sub-queues of ``queues`` ever registered (their registrations are deleted)."""
    engine = sa.create_engine(database_url(results_url))
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table(fair_queues.name):
                return []
            subs = [
                row.queue
                for row in conn.execute(
                    sa.select(fair_queues.c.queue).where(fair_queues.c.parent.in_(queues))
                )
            ]
            conn.execute(fair_queues.delete().where(fair_queues.c.parent.in_(queues)))
            return subs
    finally:
        engine.dispose()


def remove_queues(broker_url: str, results_url: str, queues: list[str]) -> None:
    """Delete ``queues`` with their fair sub-queues, dead letters and result rows."""
    queues = [*queues, *fair_subqueues(results_url, queues)]
    delete_queues(broker_url, queues)
    delete_result_rows(results_url, queues)


def queue_removed_after(broker_url: str, results_url: str) -> Iterator[str]:
    """Yield a fresh queue name; afterwards remove the queue and its rows (a fixture's body)."""
    name = fresh_queue_name()
    yield name
    remove_queues(broker_url, results_url, [name])
