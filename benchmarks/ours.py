"""arame's side of ``compare.py``: the same counting task, published first, one default worker.

The worker is ``arame worker MODULE`` with its defaults (one process per core), results in the
given results database, each message acknowledged after its outcome is committed. The tasks are
published with ``Task.map`` (1,000 per call, or spread over ``queues`` queues), then the worker
starts and ``counting.watch`` reads the rate and the CPU of its process tree between the marks.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import common
import counting

import arame


def throughput(args: argparse.Namespace, broker: str, results: str, *, queues: int = 1) -> dict[str, float]:
    """Publish ``n`` counting tasks (over ``queues`` queues), then drain them with one worker."""
    with common.bench_app(broker, results, count=True, queues=queues) as bench:
        app = bench.import_app()
        add = app.tasks[f"{bench.module}.add"]
        began = time.monotonic()
        per_call = min(common.PUBLISH_BATCH, max(1, args.n // queues))
        for number, start in enumerate(range(0, args.n, per_call)):
            calls = [(i, i) for i in range(start, min(args.n, start + per_call))]
            add.map(calls, queue=bench.queues[number % queues])
        publish_rate = args.n / (time.monotonic() - began)
        app.close_broker()
        options = ["-Q", ",".join(bench.queues)] if queues > 1 else []
        worker = bench.worker(None, None, burst=False, options=options)
        try:
            seen = drain(bench, worker, args)
        finally:
            common.stop(worker)
            app.close()
        return seen.figures() | {"publish_rate": publish_rate}


def drain(bench: common.Bench, worker: subprocess.Popen[bytes], args: argparse.Namespace) -> counting.Watch:
    """Watch the count file to ``n``; print the worker's log if it did not get there."""
    seen = counting.watch(bench.count_file, args.n, worker.pid, lambda: worker.poll() is None, args.timeout)
    if counting.done(bench.count_file) < args.n:
        print((bench.directory / "worker.log").read_text()[-3000:], file=sys.stderr)
    return seen


@contextlib.contextmanager
def idle_worker(broker: str, results: str) -> Iterator[tuple[arame.App, arame.Task[..., int]]]:
    """A default worker, warmed up and then left idle a second, as a waiting worker would be;
    the publishing app and its ``add``."""
    with common.bench_app(broker, results, count=True) as bench:
        app = bench.import_app()
        add = app.tasks[f"{bench.module}.add"]
        worker = bench.worker(None, None, burst=False)
        try:
            add.delay(0, 0).get(timeout=60)  # the worker is up
            for i in range(20):
                add.delay(i, i).get(timeout=10)
            time.sleep(1.0)  # idle again: the round trips measure a waiting worker's wake-up
            yield app, add
        finally:
            common.stop(worker)
            app.close()


def roundtrip(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """An idle default worker, then ``add.delay(i, 1).get()`` one at a time, ``n`` times."""
    samples = []
    with idle_worker(broker, results) as (_, add):
        for i in range(args.n):
            began = time.perf_counter()
            add.delay(i, 1).get(timeout=10)
            samples.append((time.perf_counter() - began) * 1000)
    return counting.latencies(samples)


def delay_loop(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """``delay()`` in a loop on one thread (row and message), then ``Task.map`` 1,000 per call;
    with ``--variant background``, ``App(publish_in_background=True)``."""
    with common.bench_app(broker, results) as bench:
        app = bench.import_app()
        app.publish_in_background = args.variant == "background"
        add = app.tasks[f"{bench.module}.add"]
        add.delay(0, 0)  # opens the connections
        began = time.perf_counter()
        for i in range(args.n):
            add.delay(i, i)
        rate = args.n / (time.perf_counter() - began)
        if app.background is not None:  # until the last message is in the broker too
            app.background.flush()
        published_rate = args.n / (time.perf_counter() - began)
        mapped = 0
        began = time.perf_counter()
        while mapped < args.n:
            count = min(common.PUBLISH_BATCH, args.n - mapped)
            add.map([(i, i) for i in range(count)])
            mapped += count
        map_rate = mapped / (time.perf_counter() - began)
        app.close()
        return {"rate": rate, "published_rate": published_rate, "map_rate": map_rate}
