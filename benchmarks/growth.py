"""Cost as work grows: arame's rates with a big results table and a deep SQL queue, against empty ones.

Each variant lives in a PostgreSQL schema of its own (``search_path`` in the URL's ``options``), so
arame creates its usual tables there and nothing touches anyone else's:

- ``big``: built once, before the runs. arame publishes one template task there, then SQL copies
  it with ``generate_series``: ``--growth-rows`` finished rows (SUCCESS) in the results table, and
  ``--growth-messages`` waiting messages in the SQL broker's table, each with its PENDING row, on
  the queue that the fetch runs consume (ids, delivery tags and bodies rewritten per copy). The
  indexes are dropped during the copy and built again after it, then the tables are analysed.
- ``empty``: built the same way with nothing copied (the template's row and message deleted, the
  tables analysed); each run there removes what it added.

The measures, each run in both variants, interleaved (empty, big, empty, big ...):

- ``delay``: ``delay()`` in a loop (row and message), Redis and PostgreSQL brokers, results there;
- ``claim``: worker throughput on Redis with the results there (claim and outcome write);
- ``fetch``: worker throughput on the PostgreSQL broker and results there; in ``big`` the worker
  takes the first ``n`` of the waiting messages, in ``empty`` ``n`` freshly published ones.

Both schemas are dropped at the end (``drop_all``).
"""

from __future__ import annotations

import argparse
import sys
import time

import common
import ours

BASE = "postgresql://127.0.0.1:5432/test"
BIG = "arame_bench_growth_big"
EMPTY = "arame_bench_growth_empty"
FETCH_NAME = "growth"  # the fixed module and queue of the fetch runs


def url_in(schema: str) -> str:
    """The PostgreSQL URL whose connections use ``schema``."""
    return f"{BASE}?options=-csearch_path%3D{schema}"


def sql(statements: list[str]) -> None:
    """Run statements on one autocommit connection, printing how long each took."""
    import sqlalchemy as sa

    engine = sa.create_engine(
        BASE.replace("postgresql:", "postgresql+psycopg:"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            for statement in statements:
                began = time.monotonic()
                conn.execute(sa.text(statement))
                print(f"    {time.monotonic() - began:6.1f}s {statement.split(chr(10))[0][:90]}", flush=True)
    finally:
        engine.dispose()


def build(rows: int, messages: int) -> None:
    """Both schemas: arame's tables; in ``big`` ``rows`` finished rows and ``messages`` waiting ones."""
    for schema in (BIG, EMPTY):
        drop(schema)
        sql([f"CREATE SCHEMA {schema}"])
        url = url_in(schema)
        with common.bench_app(url, url, count=True, name=FETCH_NAME, clean=False) as bench:
            app = bench.import_app()
            app.tasks[f"{bench.module}.add"].delay(7, 7)  # the template; also creates the tables
            app.close()
            del sys.modules[bench.module]  # the next schema's module has the same name
    sql(copies(rows, messages))
    e = EMPTY
    sql(
        [
            f"DELETE FROM {e}.arame_results",
            f"DELETE FROM {e}.arame_queue",
            f"VACUUM ANALYZE {e}.arame_results",
        ]
    )
    sql([f"VACUUM ANALYZE {e}.arame_queue"])


def drop_all() -> None:
    """Drop both schemas."""
    drop(BIG)
    drop(EMPTY)


def copies(rows: int, messages: int) -> list[str]:
    """The statements that copy the template into ``rows`` finished rows and ``messages`` waiting ones."""
    s = BIG
    template, message = f"{s}.template t", f"{s}.template_message m"
    new_body = (
        "replace(encode(convert_to(replace(m.body, t.id, md5('b' || i)), 'UTF8'), 'base64'), E'\\n', '')"
    )
    return [
        f"CREATE TABLE {s}.template AS SELECT * FROM {s}.arame_results",
        f"CREATE TABLE {s}.template_message AS SELECT queue, payload, payload::json->>'body' AS body64, "
        "convert_from(decode(payload::json->>'body', 'base64'), 'UTF8') AS body, "
        f"payload::json->'properties'->>'delivery_tag' AS tag FROM {s}.arame_queue",
        f"CREATE TABLE {s}.indexes AS SELECT indexname, indexdef FROM pg_indexes "
        f"WHERE schemaname = '{s}' AND tablename IN ('arame_results', 'arame_queue') "
        "AND indexname NOT LIKE '%pkey'",
        f"DO $$ DECLARE r record; BEGIN FOR r IN SELECT indexname FROM {s}.indexes "
        f"LOOP EXECUTE 'DROP INDEX {s}.' || r.indexname; END LOOP; END $$",
        f"ALTER TABLE {s}.arame_results DROP CONSTRAINT arame_results_pkey",
        f"INSERT INTO {s}.arame_results (id, task_name, queue, state, result, attempts, worker, created_at, "
        "started_at, finished_at, message) SELECT md5('f' || i), t.task_name, 'growth-history', 'SUCCESS', "
        "'14', 1, 'bench', t.created_at - i * interval '10 ms', t.created_at - i * interval '10 ms', "
        f"t.created_at - i * interval '10 ms', replace(t.message, t.id, md5('f' || i)) FROM {template}, "
        f"generate_series(1, {rows}) i",
        f"INSERT INTO {s}.arame_results (id, task_name, queue, state, attempts, created_at, message) "
        "SELECT md5('b' || i), t.task_name, t.queue, 'PENDING', 0, t.created_at, "
        f"replace(t.message, t.id, md5('b' || i)) FROM {template}, generate_series(1, {messages}) i",
        f"INSERT INTO {s}.arame_queue (queue, priority, deliveries, payload) "
        f"SELECT m.queue, 0, 0, replace(replace(m.payload, m.tag, md5('t' || i)), "
        f"m.body64, {new_body}) FROM {template}, {message}, "
        f"generate_series(1, {messages}) i ORDER BY i",
        f"ALTER TABLE {s}.arame_results ADD PRIMARY KEY (id)",
        f"DO $$ DECLARE r record; BEGIN FOR r IN SELECT indexdef FROM {s}.indexes "
        "LOOP EXECUTE r.indexdef; END LOOP; END $$",
        f"DROP TABLE {s}.indexes, {s}.template, {s}.template_message",
        f"ANALYZE {s}.arame_results",
        f"ANALYZE {s}.arame_queue",
    ]


def drop(schema: str) -> None:
    """Drop a schema and everything in it."""
    sql([f"DROP SCHEMA IF EXISTS {schema} CASCADE"])


def measure(args: argparse.Namespace, variant: str, what: str) -> dict[str, float]:
    """One run of ``what`` (delay-redis, delay-postgresql, claim, fetch) in ``variant``."""
    url = url_in(BIG if variant == "big" else EMPTY)
    if what.startswith("delay"):
        broker = common.BROKERS["redis"] if what == "delay-redis" else url
        return ours.delay_loop(args, broker, url)
    if what == "claim":
        return ours.throughput(args, common.BROKERS["redis"], url)
    return fetch(args, url, backlog=variant == "big")


def fetch(args: argparse.Namespace, url: str, *, backlog: bool) -> dict[str, float]:
    """Worker throughput on the SQL broker: the backlog's first ``n``, or ``n`` just published."""
    with common.bench_app(url, url, count=True, name=FETCH_NAME, clean=not backlog) as bench:
        app = bench.import_app()
        if not backlog:
            add = app.tasks[f"{bench.module}.add"]
            for start in range(0, args.n, common.PUBLISH_BATCH):
                add.map([(i, i) for i in range(start, min(args.n, start + common.PUBLISH_BATCH))])
        app.close()
        worker = bench.worker(None, None, burst=False)
        try:
            seen = ours.drain(bench, worker, args)
        finally:
            common.stop(worker)
        return seen.figures()
