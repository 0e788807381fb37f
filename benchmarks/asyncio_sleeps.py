"""asyncio pool: the wall time of ``-n`` tasks that each ``await asyncio.sleep(1)``, run at once.

Publishes ``-n`` calls of an ``async def nap()`` (with their PENDING rows), then starts one
``arame worker MODULE --pool asyncio -c N --burst`` (``-c`` defaults to ``-n``: every task at
once) and waits for it to exit. ``wall`` runs from the end of the publish to the last
``finished_at``: worker start-up, claims, the one-second sleeps. Of it, ``startup`` runs to
the first ``started_at`` (a fresh interpreter, imports, connections), ``starts`` from the first
to the last ``started_at``, and ``run`` from the first ``started_at`` to the last
``finished_at``. ``exit`` is when the burst worker exited, every outcome committed and
acknowledged. One at a time the tasks would take ``n`` seconds.

    .venv/bin/python benchmarks/asyncio_sleeps.py -n 1000 --broker redis
"""

from __future__ import annotations

import argparse
import subprocess
import time

import common
import sqlalchemy as sa

from arame.results.results_table import results as table

NAP = """
import asyncio


@app.task
async def nap():
    await asyncio.sleep(1)
"""


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run: publish, run them all with an asyncio burst worker, read the rows' times."""
    with common.bench_app(broker, results, tasks=NAP) as bench:
        app = bench.import_app()
        nap = app.tasks[f"{bench.module}.nap"]
        for start in range(0, args.n, common.PUBLISH_BATCH):
            nap.map([() for _ in range(start, min(args.n, start + common.PUBLISH_BATCH))])
        published = time.time()
        app.close_broker()
        worker = bench.worker(args.concurrency or args.n, "asyncio", burst=True)
        try:
            worker.wait(args.timeout)
        except subprocess.TimeoutExpired:
            common.stop(worker)
        exited = time.time()
        c = table.c
        with app.results.connect() as conn:
            first, last_start, last, done = conn.execute(
                sa.select(sa.func.min(c.started_at), sa.func.max(c.started_at), sa.func.max(c.finished_at))
                .add_columns(sa.func.count())
                .where(c.queue == bench.queue, c.state == "SUCCESS")
            ).one()
        app.close()
        first, last_start, last = map(common.epoch, (first, last_start, last))
        return {
            "wall": last - published,
            "startup": first - published,
            "starts": last_start - first,
            "run": last - first,
            "exit": exited - published,
            "done": float(done),
        }


FIELDS = [
    ("wall", "{:5.2f}s"),
    ("startup", "{:5.2f}s"),
    ("starts", "{:5.2f}s"),
    ("run", "{:5.2f}s"),
    ("exit", "{:5.2f}s"),
    ("done", "{:5.0f}"),
]

if __name__ == "__main__":
    options = common.parser(__doc__.splitlines()[0], n=1000, brokers="redis,rabbitmq,postgresql")
    options.set_defaults(concurrency=0, pool="asyncio")  # -c 0: as many as -n
    common.main(options, measure, FIELDS)
