"""The floors of publishing, each step timed alone with the driver and nothing of arame's around it.

- ``row_durable`` / ``row_quick``: one PENDING row, arame's own ``INSERT`` (``INSERT_PENDING``), in
  autocommit on psycopg, into a scratch table shaped like ``arame_results``: with the disk flush
  and without it (``synchronous_commit = off``, as arame writes a PENDING row); per second.
- ``confirm``: py-amqp publishing one persistent message and waiting for RabbitMQ's confirm, one
  at a time; per second.
- ``amqp_confirms_1000``: py-amqp publishing 1,000 persistent messages in confirm mode, then
  waiting for every confirm (the fastest a client can hand RabbitMQ a batch it knows is stored);
  messages per second.

    .venv/bin/python benchmarks/floors.py -n 3000
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

import amqp
import psycopg

from arame.results.pg_statements import INSERT_PENDING
from arame.results.results_table import TABLE_NAME

POSTGRES = "host=127.0.0.1 dbname=test user=postgres"
RABBITMQ = {"host": "127.0.0.1:5672", "userid": "guest", "password": "guest"}
BODY = '{"task": "bench.add", "args": [1, 2], "kwargs": {}, "id": "%s", "queue": "floors"}'


def rows(n: int, *, durable: bool) -> float:
    """Rows per second, one autocommitted INSERT each."""
    scratch = f"floors_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {scratch} (LIKE {TABLE_NAME} INCLUDING ALL)")
        try:
            conn.execute(f"SET synchronous_commit = {'on' if durable else 'off'}")
            statement = INSERT_PENDING.replace(TABLE_NAME, scratch, 1)
            began = time.perf_counter()
            for _ in range(n):
                task_id = uuid.uuid4().hex
                conn.execute(
                    statement,
                    {
                        "id": task_id,
                        "task_name": "bench.add",
                        "queue": "floors",
                        "state": "PENDING",
                        "attempts": 0,
                        "created_at": datetime.now(UTC),
                        "message": BODY % task_id,
                        "trace_id": None,
                    },
                )
            return n / (time.perf_counter() - began)
        finally:
            conn.execute(f"DROP TABLE {scratch}")


def amqp_publishes(n: int, *, batch: int) -> float:
    """Persistent messages per second in confirm mode: ``batch`` published, then their confirms
    awaited (RabbitMQ confirms several at once with ``multiple``)."""
    queue = f"floors-{uuid.uuid4().hex[:10]}"
    with amqp.Connection(**RABBITMQ) as connection:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False)
        channel.confirm_select()
        confirmed = [0]
        channel.events["basic_ack"].add(
            lambda tag, multiple: confirmed.__setitem__(0, max(confirmed[0], tag))
        )
        try:
            began = time.perf_counter()
            for start in range(0, n, batch):
                end = min(start + batch, n)
                for i in range(start, end):
                    message = amqp.Message(BODY % i, delivery_mode=2, content_type="application/json")
                    channel._basic_publish(message, exchange="", routing_key=queue)  # no wait
                while confirmed[0] < end:  # delivery tags count from 1 on this channel
                    channel.wait([amqp.spec.Basic.Ack, amqp.spec.Basic.Nack])
            return n / (time.perf_counter() - began)
        finally:
            channel.queue_delete(queue)


def measure(n: int) -> dict[str, float]:
    """Every floor once, ``n`` rows or messages each."""
    return {
        "row_durable": rows(n, durable=True),
        "row_quick": rows(n, durable=False),
        "confirm": amqp_publishes(n, batch=1),
        "amqp_confirms_1000": amqp_publishes(n, batch=1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000, help="rows or messages per measure [3000]")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure [3]")
    args = parser.parse_args()
    for _ in range(args.repeat):
        figures = measure(args.n)
        print("  ".join(f"{k} {v:8.0f}/s ({1e6 / v:5.0f} µs)" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    main()
