"""Publishing rate: ``add.delay(i, i)`` in a loop on one thread, PENDING row included; tasks/s.

Then the batch API: ``add.map(...)`` of ``--batch`` calls at a time, ``-n`` calls in all
(``map_rate``). No worker runs; the queue and rows are removed afterwards. ``delay()`` returns
only after the PENDING row is committed and the broker has stored the message (see
docs/guarantees.md), so this is two round trips per task at least; ``map`` pays them once per
batch. With ``--background`` (``App(publish_in_background=True)``) ``delay()`` waits for the
rows only; ``published_rate`` counts until the last message is in the broker. Each run is a
fresh process.

    .venv/bin/python benchmarks/publish.py --broker postgresql -n 5000
"""

from __future__ import annotations

import argparse
import time

import common


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run: ``n`` delay() calls, timed after one warm-up call that opens the connections."""
    with common.bench_app(broker, results) as bench:
        app = bench.import_app()
        app.publish_in_background = args.background
        add = app.tasks[f"{bench.module}.add"]
        add.delay(0, 0)
        out_of_time = common.deadline(args.timeout)
        samples = []
        began = time.perf_counter()
        for i in range(args.n):
            t = time.perf_counter()
            add.delay(i, i)
            samples.append((time.perf_counter() - t) * 1000)
            if out_of_time():
                break
        elapsed = time.perf_counter() - began
        if app.background is not None:  # until the last message is in the broker too
            app.background.flush()
        published = time.perf_counter() - began
        began = time.perf_counter()
        mapped = 0
        while mapped < args.n and not out_of_time():
            count = min(args.batch, args.n - mapped)
            add.map([(i, i) for i in range(count)])
            mapped += count
        map_elapsed = time.perf_counter() - began
        app.close()
        return {
            "rate": len(samples) / elapsed,
            "published_rate": len(samples) / published,
            "p50": common.percentile(samples, 50),
            "p99": common.percentile(samples, 99),
            "map_rate": mapped / map_elapsed,
        }


FIELDS = [
    ("rate", "{:7.0f}/s"),
    ("published_rate", "{:7.0f}/s"),
    ("p50", "{:5.2f}ms"),
    ("p99", "{:5.2f}ms"),
    ("map_rate", "{:7.0f}/s"),
]

if __name__ == "__main__":
    parser = common.parser(__doc__.splitlines()[0], n=5000)
    parser.add_argument("--batch", type=int, default=1000, help="calls per map() [1000]")
    parser.add_argument(
        "--background",
        action="store_true",
        help="App(publish_in_background=True): delay() waits for the row only",
    )
    common.main(parser, measure, FIELDS)
