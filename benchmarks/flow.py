"""Flow control, measured: a global rate limit, and fair shares between two tenants.

``rate``: publishes ``-n`` tasks limited to ``--rate``/s, runs ``--workers`` worker processes of
``-c`` slots each, and reports the start rate between the 10 % and the 90 % mark (from the rows'
``started_at``: start-up and tail excluded).

``fairness``: tenant ``a`` publishes ``--backlog`` tasks, then tenant ``b`` publishes 10; the task
has ``concurrency_limit=--limit`` per tenant and sleeps ``--work`` s. Reports how long after its
publish each of ``b``'s tasks started, and how many of ``a``'s had started by then.

    .venv/bin/python benchmarks/flow.py rate --broker redis --rate 50 -n 1500
    .venv/bin/python benchmarks/flow.py fairness --broker redis --backlog 10000
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
import time
from typing import Any

import common
import sqlalchemy as sa

from arame.results.table import results as results_table

MODULE = """\
import time
import arame

app = arame.App("flow", broker={broker!r}, results={results!r}, default_queue={queue!r})


@app.task(rate_limit="{rate}/s")
def limited(n):
    return n


@app.task(concurrency_limit={limit}, concurrency_key="tenant")
def tenant_work(tenant, n):
    time.sleep({work})
    return n
"""


def started(app: Any, queue: str, task: str) -> list[tuple[float, float, str]]:
    """(created, started, first argument) of the started rows of ``task``."""
    query = sa.select(results_table.c.created_at, results_table.c.started_at, results_table.c.message).where(
        results_table.c.queue == queue,
        results_table.c.task_name == task,
        results_table.c.started_at.is_not(None),
    )
    with app.results.connect() as conn:
        rows = conn.execute(query).all()
    return [(common.epoch(c), common.epoch(s), m.split('"args":[', 1)[1][1]) for c, s, m in rows]


def wait_for(check: Any, timeout: float) -> None:
    give_up = time.monotonic() + timeout
    while not check() and time.monotonic() < give_up:
        time.sleep(0.2)


def measure_rate(args: argparse.Namespace, bench: common.Bench, app: Any) -> None:
    task = app.tasks[f"{bench.module}.limited"]
    for start in range(0, args.n, common.PUBLISH_BATCH):
        task.map([(i,) for i in range(start, min(args.n, start + common.PUBLISH_BATCH))])
    workers = [bench.worker(args.concurrency, args.pool, burst=False) for _ in range(args.workers)]
    try:
        wait_for(lambda: len(started(app, bench.queue, task.name)) >= args.n, args.n / args.rate * 3 + 30)
    finally:
        for worker in workers:
            common.stop(worker)
    times = sorted(s for _, s, _ in started(app, bench.queue, task.name))
    low, high = times[len(times) // 10], times[len(times) * 9 // 10]
    rate = (len(times) * 8 // 10) / (high - low)
    print(f"rate limit {args.rate}/s, {args.workers} workers x -c {args.concurrency}: {len(times)} started,")
    print(
        f"  steady start rate {rate:.2f}/s ({(rate / args.rate - 1) * 100:+.1f} %), overall {len(times) / (times[-1] - times[0]):.2f}/s"
    )


def measure_fairness(args: argparse.Namespace, bench: common.Bench, app: Any) -> None:
    task = app.tasks[f"{bench.module}.tenant_work"]
    for start in range(0, args.backlog, common.PUBLISH_BATCH):
        task.map([("a", i) for i in range(start, min(args.backlog, start + common.PUBLISH_BATCH))])
    published = time.time()
    for i in range(10):
        task.delay("b", i)
    workers = [bench.worker(args.concurrency, args.pool, burst=False) for _ in range(args.workers)]
    began = time.time()
    try:
        wait_for(lambda: sum(1 for *_, t in started(app, bench.queue, task.name) if t == "b") >= 10, 300)
        rows = started(app, bench.queue, task.name)
    finally:
        for worker in workers:
            common.stop(worker)
    b_starts = sorted(s for _, s, t in rows if t == "b")
    a_before = sum(1 for _, s, t in rows if t == "a" and s <= b_starts[-1])
    print(
        f"fairness: {args.backlog} tasks of tenant a, then 10 of b; limit {args.limit} per tenant, {args.work}s each;"
    )
    print(
        f"  {args.workers} workers x -c {args.concurrency}, started {began - published:.1f}s after b's publish"
    )
    print(
        f"  b's tasks started {b_starts[0] - began:.2f}s .. {b_starts[-1] - began:.2f}s after the workers started;"
    )
    print(f"  {a_before} of a's tasks had started by then")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["rate", "fairness"])
    p.add_argument("--broker", default="redis", choices=sorted(common.BROKERS))
    p.add_argument("--results", default="postgresql", choices=sorted(common.RESULTS))
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("-n", type=int, default=1500)
    p.add_argument("--backlog", type=int, default=10_000)
    p.add_argument("--limit", type=int, default=2)
    p.add_argument("--work", type=float, default=0.05)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("-c", "--concurrency", type=int, default=2)
    p.add_argument("--pool", default=None)
    args = p.parse_args()
    broker, results = common.resolve(common.BROKERS[args.broker], common.RESULTS[args.results])
    with common.bench_app(broker, results) as base:
        bench = dataclasses.replace(base, module=f"flow_{base.module}")
        source = MODULE.format(
            broker=base.broker,
            results=base.results,
            queue=base.queue,
            rate=args.rate,
            limit=args.limit,
            work=args.work,
        )
        (bench.directory / f"{bench.module}.py").write_text(textwrap.dedent(source))
        app = bench.import_app()
        (measure_rate if args.mode == "rate" else measure_fairness)(args, bench, app)
        app.close()


if __name__ == "__main__":
    main()
