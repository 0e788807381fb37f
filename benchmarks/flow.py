"""Flow control, measured: a global rate limit, and fair shares between two tenants.

``rate``: publishes ``-n`` tasks limited to ``--rate``/s, runs ``--workers`` worker processes of
``-c`` slots each, and reports the start rate between the 10 % and the 90 % mark (from the rows'
``started_at``: start-up and tail excluded).

``fair``: tenant ``a`` publishes ``--backlog`` tasks of a task with ``fair_key="tenant"`` that
sleeps ``--work`` s; once the workers have begun a's backlog, tenant ``b`` publishes 10. Reports
how long after b's publish its first task started and its last finished, and how many of a's
tasks had started by then. ``--idle N`` first registers N tenants holding only a task delayed an
hour (sub-queues consumed but empty); ``--more S`` keeps the workers on a's backlog S seconds
longer; the rate at which a's tasks started shows what the idle sub-queues cost.

    .venv/bin/python benchmarks/flow.py rate --broker redis --rate 50 -n 1500
    .venv/bin/python benchmarks/flow.py fair --broker redis --backlog 10000
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
import time
from typing import Any

import common
import sqlalchemy as sa

from arame.results.results_table import results as results_table

MODULE = """\
import time
import arame

app = arame.App("flow", broker={broker!r}, results={results!r}, default_queue={queue!r})


@app.task(rate_limit="{rate}/s")
def limited(n):
    return n


@app.task(fair_key="tenant")
def fair_work(tenant, n):
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
    overall = len(times) / (times[-1] - times[0])
    print(f"rate limit {args.rate}/s, {args.workers} workers x -c {args.concurrency}: {len(times)} started,")
    print(
        f"  steady start rate {rate:.2f}/s ({(rate / args.rate - 1) * 100:+.1f} %), overall {overall:.2f}/s"
    )


def rows_of(app: Any, task: str) -> list[tuple[str, float | None, float | None]]:
    """(tenant, started, finished) of every row of ``task``, whatever (sub-)queue it is in."""
    columns = (results_table.c.message, results_table.c.started_at, results_table.c.finished_at)
    with app.results.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(results_table.c.task_name == task)).all()
    return [(m.split('"args":[', 1)[1][1], _epoch_or_none(s), _epoch_or_none(f)) for m, s, f in rows]


def _epoch_or_none(moment: Any) -> float | None:
    return None if moment is None else common.epoch(moment)


def measure_fair(args: argparse.Namespace, bench: common.Bench, app: Any) -> None:
    """Tenant a's backlog, workers busy with it, then tenant b's 10: how soon b's start and end."""
    task = app.tasks[f"{bench.module}.fair_work"]
    for i in range(args.idle):  # tenants whose sub-queues are registered but hold nothing ready
        task.apply_async((f"idle{i}", i), countdown=3600)
    for start in range(0, args.backlog, common.PUBLISH_BATCH):
        task.map([("a", i) for i in range(start, min(args.backlog, start + common.PUBLISH_BATCH))])
    workers = [bench.worker(args.concurrency, args.pool, burst=False) for _ in range(args.workers)]
    try:
        wait_for(lambda: any(s is not None for _, s, _ in rows_of(app, task.name)), 120)
        published = time.time()
        for i in range(10):
            task.delay("b", i)
        wait_for(lambda: sum(1 for t, _, f in rows_of(app, task.name) if t == "b" and f) >= 10, 600)
        time.sleep(args.more)
        rows = rows_of(app, task.name)
    finally:
        for worker in workers:
            common.stop(worker)
    b_starts = sorted(s for t, s, _ in rows if t == "b" and s is not None)
    b_ends = sorted(f for t, _, f in rows if t == "b" and f is not None)
    a_before = sum(1 for t, s, _ in rows if t == "a" and s is not None and s <= b_ends[-1])
    drain = args.backlog * args.work / (args.workers * args.concurrency)
    results = "sqlite" if args.broker == "sqlite" else args.results
    print(f"fair shares ({args.broker} broker, {results} results): {args.backlog} tasks of tenant a,")
    print(
        f"  then 10 of b once a's had begun; {args.work}s each,"
        f" {args.workers} workers x -c {args.concurrency}"
    )
    print(f"  b's first task started {b_starts[0] - published:.2f}s after b's publish,")
    print(f"  b's last finished {b_ends[-1] - published:.2f}s after it ({len(b_ends)} of 10 finished);")
    print(f"  {a_before} of a's tasks had started by then (a's backlog alone takes ~{drain:.0f}s)")
    a_starts = sorted(s for t, s, _ in rows if t == "a" and s is not None)
    span = a_starts[-1] - a_starts[0]
    print(f"  a's tasks started at {len(a_starts) / span:.0f}/s over {span:.1f}s, {args.idle} idle tenants")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["rate", "fair"])
    p.add_argument("--broker", default="redis", choices=sorted(common.BROKERS))
    p.add_argument("--results", default="postgresql", choices=sorted(common.RESULTS))
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("-n", type=int, default=1500)
    p.add_argument("--backlog", type=int, default=10_000)
    p.add_argument("--idle", type=int, default=0, help="fair: tenants with only a delayed task")
    p.add_argument("--more", type=float, default=0.0, help="fair: seconds to run on after b's are done")
    p.add_argument("--work", type=float, default=0.05)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("-c", "--concurrency", type=int, default=2)
    p.add_argument("--pool", default=None)
    args = p.parse_args()
    broker, results = common.resolve(common.BROKERS[args.broker], common.RESULTS[args.results])
    with common.bench_app(broker, results) as base:
        bench = dataclasses.replace(base, module=f"flow_{base.module}")
        source = MODULE.format(
            broker=base.broker, results=base.results, queue=base.queue, rate=args.rate, work=args.work
        )
        (bench.directory / f"{bench.module}.py").write_text(textwrap.dedent(source))
        app = bench.import_app()
        (measure_rate if args.mode == "rate" else measure_fair)(args, bench, app)
        app.close()


if __name__ == "__main__":
    main()
