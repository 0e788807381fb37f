"""Round trip: ``delay().get()`` one at a time against an idle worker; p50 / p99 / max in ms.

Starts ``arame worker MODULE -c C`` on a fresh queue, waits until it has answered a few warm-up
tasks, then times ``-n`` calls of ``add.delay(i, i).get()`` one after the other (publish with its
PENDING row, run, commit, and the caller's wait on the results table). Each run is a fresh process.

    .venv/bin/python benchmarks/roundtrip.py --broker rabbitmq -n 1000
"""

from __future__ import annotations

import argparse
import time

import common

WARMUP = 20


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run: an idle worker, then ``n`` sequential round trips."""
    with common.bench_app(broker, results) as bench:
        app = bench.import_app()
        add = app.tasks[f"{bench.module}.add"]
        worker = bench.worker(args.concurrency, args.pool, burst=False)
        try:
            add.delay(0, 0).get(timeout=60)  # the worker is up
            for i in range(WARMUP):
                add.delay(i, i).get(timeout=10)
            time.sleep(1.0)  # idle again, as a waiting worker would be
            out_of_time = common.deadline(args.timeout)
            samples = []
            for i in range(args.n):
                began = time.perf_counter()
                add.delay(i, 1).get(timeout=10)
                samples.append((time.perf_counter() - began) * 1000)
                if out_of_time():
                    break
        finally:
            common.stop(worker)
            app.close()
        return {
            "p50": common.percentile(samples, 50),
            "p99": common.percentile(samples, 99),
            "max": max(samples),
            "count": float(len(samples)),
        }


FIELDS = [("p50", "{:6.2f}ms"), ("p99", "{:6.2f}ms"), ("max", "{:7.1f}ms"), ("count", "{:5.0f}")]

if __name__ == "__main__":
    common.main(common.parser(__doc__.splitlines()[0], n=1000), measure, FIELDS)
