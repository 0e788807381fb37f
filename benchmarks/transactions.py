"""The cost of the outbox and of atomic tasks, against the same work without them.

- ``plain_txn`` / ``outbox_txn``: one transaction per call that inserts an order and calls
  ``delay()``: without ``app.transaction`` (the row on arame's own connection, published at once)
  and with it (the row in the caller's transaction, published after the commit); calls/s.
- ``plain_run`` / ``atomic_run``: a thread worker drains ``-n`` tasks that each insert a row:
  through a connection of their own, or through ``arame.connection()`` (``atomic=True``); tasks/s.

    .venv/bin/python benchmarks/transactions.py --broker redis://127.0.0.1:6379/13 \\
        --results postgresql+psycopg://127.0.0.1/test -n 2000
"""

from __future__ import annotations

import argparse
import time
import uuid

import sqlalchemy as sa

import arame
from arame.testing import run_until_empty


def bench(broker: str, results: str, n: int, concurrency: int) -> dict[str, float]:
    """One run on fresh tables and a fresh queue; returns the four rates."""
    queue = f"bench-tx-{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(results)
    table = sa.Table(f"bench_orders_{uuid.uuid4().hex[:8]}", sa.MetaData(), sa.Column("item", sa.Integer))
    table.create(engine)
    app = arame.App("bench", broker=broker, results=results, default_queue=queue)

    @app.task(name="bench.plain")
    def plain(i: int) -> None:
        with engine.begin() as conn:
            conn.execute(table.insert(), {"item": i})

    @app.task(name="bench.atomic", atomic=True)
    def atomic(i: int) -> None:
        arame.connection().execute(table.insert(), {"item": i})

    try:
        plain.delay(-1)  # opens the connections
        figures = {
            "plain_txn": _calls(n, lambda i: _order(engine, table, i, lambda: plain.delay(i))),
            "outbox_txn": _calls(n, lambda i: _order(engine, table, i, lambda: plain.delay(i), app)),
        }
        run_until_empty(app, [queue], concurrency)
        for name, task in (("plain_run", plain), ("atomic_run", atomic)):
            task.map((i,) for i in range(n))
            began = time.perf_counter()
            run_until_empty(app, [queue], concurrency)
            figures[name] = n / (time.perf_counter() - began)
        return figures
    finally:
        with app.results.transaction() as conn:
            conn.execute(sa.text("DELETE FROM arame_results WHERE queue = :q"), {"q": queue})
        app.close()
        table.drop(engine)
        engine.dispose()


def _order(engine: sa.Engine, table: sa.Table, i: int, publish: object, app: arame.App | None = None) -> None:
    with engine.begin() as conn:
        if app is None:
            conn.execute(table.insert(), {"item": i})
            publish()  # type: ignore[operator]
            return
        with app.transaction(conn):
            conn.execute(table.insert(), {"item": i})
            publish()  # type: ignore[operator]


def _calls(n: int, call: object) -> float:
    began = time.perf_counter()
    for i in range(n):
        call(i)  # type: ignore[operator]
    return n / (time.perf_counter() - began)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--results", default="postgresql+psycopg://127.0.0.1/test")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("-c", "--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for run in range(args.repeat):
        found = bench(args.broker, args.results, args.n, args.concurrency)
        print(
            f"run {run + 1}: " + "  ".join(f"{key} {value:7.0f}/s" for key, value in found.items()),
            flush=True,
        )
