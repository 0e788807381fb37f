"""Worker throughput: tasks/s a burst worker sustains on a full queue, read from the results table.

Publishes ``-n`` no-op ``add(x, y)`` tasks (with their PENDING rows) to a fresh queue, then starts
one ``arame worker MODULE -c C --burst`` process and waits for it to exit. The rate is the number
of rows finished between the 10 % and the 90 % mark divided by the time between them (from
``finished_at``), so worker start-up and the tail do not count. ``cpu_us`` is the worker's CPU
time (supervisor and children, user and system) per finished task: less sensitive to other
load on the machine than the rate. Each run is a fresh process.

    .venv/bin/python benchmarks/throughput.py --broker redis -n 10000

``--metrics`` starts the worker with ``--metrics-port 0``; ``--tracing`` configures the
OpenTelemetry SDK (spans batched to an exporter that drops them) in the publisher and the
worker, so both pay for making every span. ``--queue-type quorum`` declares the RabbitMQ queue as a
quorum queue (replicated; on a single node, one replica).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import time

import common

# The SDK with a batch processor and an exporter that drops the spans: the cost of making them.
TRACING_PRELUDE = """\
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


    class _Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS


    _provider = TracerProvider()
    _provider.add_span_processor(BatchSpanProcessor(_Drop()))
    trace.set_tracer_provider(_provider)
"""


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run: publish, drain with a burst worker, return the steady rate."""
    prelude = TRACING_PRELUDE if args.tracing else ""
    with common.bench_app(broker, results, prelude=prelude, queue_type=args.queue_type) as bench:
        app = bench.import_app()
        began = time.monotonic()
        add = app.tasks[f"{bench.module}.add"]
        for start in range(0, args.n, common.PUBLISH_BATCH):
            add.map([(i, i) for i in range(start, min(args.n, start + common.PUBLISH_BATCH))])
        published = time.monotonic() - began
        app.close_broker()
        started = time.monotonic()
        cpu_before = children_cpu()
        options = ["--metrics-port", "0"] if args.metrics else []
        worker = bench.worker(args.concurrency, args.pool, burst=True, options=options)
        try:
            worker.wait(args.timeout)
        except subprocess.TimeoutExpired:
            common.stop(worker)
        elapsed = time.monotonic() - started
        cpu = children_cpu() - cpu_before  # the worker and its pool, once it has exited
        times = common.finished_times(bench, app)
        app.close()
        return {
            "rate": common.steady_rate(times),
            "overall": len(times) / elapsed,
            "done": float(len(times)),
            "publish_s": published,
            "cpu_us": cpu / max(len(times), 1) * 1e6,
        }


def children_cpu() -> float:
    """CPU seconds (user and system) of this process's children that have exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


FIELDS = [
    ("rate", "{:7.0f}/s"),
    ("overall", "{:7.0f}/s"),
    ("done", "{:6.0f}"),
    ("publish_s", "{:5.1f}s"),
    ("cpu_us", "{:5.0f}us/task"),
]

if __name__ == "__main__":
    options = common.parser(__doc__.splitlines()[0], n=10_000)
    options.add_argument("--metrics", action="store_true", help="worker with --metrics-port 0")
    options.add_argument("--tracing", action="store_true", help="OpenTelemetry SDK configured")
    options.add_argument(
        "--queue-type", choices=["classic", "quorum"], default="classic", help="RabbitMQ queue type [classic]"
    )
    common.main(options, measure, FIELDS)
