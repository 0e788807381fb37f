"""Traces with OpenTelemetry: a PRODUCER span per publish, a CONSUMER span per run, linked.

The SDK's in-memory exporter collects the spans of a real worker (Redis broker, PostgreSQL
results); a process-pool worker reports, through its task's own result, the trace it ran in.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

import arame
from arame.dashboard import queries as reads
from tests.integration.conftest import POSTGRES_URL, only_on

REDIS_URL = "redis://127.0.0.1:6379/15"
pytestmark = [pytest.mark.redis, pytest.mark.postgres, only_on(REDIS_URL, POSTGRES_URL, "redis-postgres")]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """A tracer provider exporting to memory for this test only; the global one is reset after."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    # OpenTelemetry sets its provider once per process; its own tests reset it the same way.
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]


def make_app(queue: str, **options: object) -> arame.App:
    app = arame.App("traced", broker=REDIS_URL, results=POSTGRES_URL, default_queue=queue, **options)  # type: ignore[arg-type]

    @app.task(name="traced.add", queue=queue)
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="traced.fail", queue=queue, max_retries=0)
    def fail() -> None:
        raise ValueError("it went wrong")

    return app


def run_worker(app: arame.App, queue: str) -> None:
    worker = app.worker([queue], 2, burst=True)
    worker.start()
    worker.join(60)


def by_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is kind]


def test_a_published_task_is_linked_from_its_run_with_the_messaging_attributes(
    spans: InMemorySpanExporter, queue: str
) -> None:
    app = make_app(queue)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request") as request:
        result = app.tasks["traced.add"].delay(2, 3)
    run_worker(app, queue)
    assert result.get(timeout=30) == 5

    (send,) = by_kind(spans, SpanKind.PRODUCER)
    (process,) = by_kind(spans, SpanKind.CONSUMER)
    assert send.name == f"send {queue}" and process.name == f"process {queue}"
    assert send.parent is not None and send.parent.span_id == request.get_span_context().span_id
    assert dict(send.attributes or {}) | {"messaging.operation.type": "x"} == {
        "messaging.system": "arame",
        "messaging.destination.name": queue,
        "messaging.message.id": result.id,
        "messaging.operation.type": "x",
        "messaging.operation.name": "send",
        "arame.task.name": "traced.add",
    }
    assert (process.attributes or {})["messaging.operation.type"] == "process"
    assert (process.attributes or {})["messaging.message.id"] == result.id
    # Linked, not parented, unless the app asks for it.
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert process.parent is None and process.context.trace_id != send.context.trace_id
    row = app.results.read(result.id)
    assert row is not None and row.trace_id == f"{send.context.trace_id:032x}"
    shown = reads.task(app, result.id)  # the dashboard's task page shows it
    assert shown is not None and shown["trace_id"] == row.trace_id
    app.close()


def test_with_trace_parent_the_run_is_a_child_of_the_send(spans: InMemorySpanExporter, queue: str) -> None:
    app = make_app(queue, trace_parent=True)
    results = app.tasks["traced.add"].map([(1, 1), (2, 2)])
    run_worker(app, queue)
    assert [r.get(timeout=30) for r in results] == [2, 4]

    sends = {span.context.span_id: span for span in by_kind(spans, SpanKind.PRODUCER)}
    processes = by_kind(spans, SpanKind.CONSUMER)
    assert len(sends) == 2 and len(processes) == 2
    for process in processes:
        assert process.parent is not None and process.parent.span_id in sends
        sent = sends[process.parent.span_id]
        assert process.context.trace_id == sent.context.trace_id
        assert (process.attributes or {})["messaging.message.id"] == (sent.attributes or {})[
            "messaging.message.id"
        ]
    app.close()


def test_a_task_that_raises_records_the_exception_on_its_span(
    spans: InMemorySpanExporter, queue: str
) -> None:
    app = make_app(queue)
    result = app.tasks["traced.fail"].delay()
    run_worker(app, queue)
    assert result.get(timeout=30, propagate=False) is not None or result.failed()

    (process,) = by_kind(spans, SpanKind.CONSUMER)
    assert process.status.status_code is StatusCode.ERROR
    (event,) = process.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "ValueError"
    assert (event.attributes or {})["exception.message"] == "it went wrong"
    app.close()


def test_the_trace_context_travels_in_the_headers_too(spans: InMemorySpanExporter, queue: str) -> None:
    from arame.transport import Subscriber, parse_broker_url

    app = make_app(queue)
    result = app.tasks["traced.add"].delay(1, 2)
    got = []
    subscriber = Subscriber(parse_broker_url(REDIS_URL), [queue], 1, got.append)
    subscriber.open()
    try:
        while not got:
            subscriber.drain(1.0)
        headers = got[0].headers
        (send,) = by_kind(spans, SpanKind.PRODUCER)
        assert headers["traceparent"].split("-")[1:3] == [
            f"{send.context.trace_id:032x}",
            f"{send.context.span_id:016x}",
        ]
        subscriber.acknowledge(got)
    finally:
        subscriber.close()
    assert result.id
    app.close()


PROCESS_TASKS = """
import arame
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
app = arame.App("traced", trace_parent=True)


@app.task(name="traced.whose_trace")
def whose_trace():
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}"
"""


def test_a_process_pool_child_runs_the_task_inside_the_senders_trace(
    spans: InMemorySpanExporter, queue: str, tmp_path: Path
) -> None:
    (tmp_path / "tracedmod.py").write_text(PROCESS_TASKS)
    app = arame.App("producer", broker=REDIS_URL, results=POSTGRES_URL)
    whose_trace = app.task(name="traced.whose_trace", queue=queue)(lambda: None)
    with trace.get_tracer("test").start_as_current_span("request") as request:
        result = whose_trace.delay()
    env = {
        **os.environ,
        "ARAME_BROKER_URL": REDIS_URL,
        "ARAME_RESULTS_URL": POSTGRES_URL,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "arame", "worker", "tracedmod:app", "-Q", queue, "--pool", "process"]
    subprocess.run([*command, "-c", "1", "--burst"], cwd=tmp_path, env=env, timeout=90, check=True)

    expected = f"{request.get_span_context().trace_id:032x}"
    assert result.get(timeout=10) == expected
    row = app.results.read(result.id)
    assert row is not None and row.trace_id == expected
    app.close()


def test_an_async_task_in_the_asyncio_pool_runs_inside_its_consumer_span(
    spans: InMemorySpanExporter, queue: str
) -> None:
    app = make_app(queue)

    @app.task(name="traced.nap", queue=queue)
    async def nap() -> str:
        await asyncio.sleep(0.01)
        with trace.get_tracer("test").start_as_current_span("inside"):
            await asyncio.sleep(0)
        return "rested"

    result = nap.delay()
    worker = app.worker([queue], 10, pool="asyncio", burst=True)
    worker.start()
    worker.join(60)
    assert result.get(timeout=30) == "rested"

    (send,) = by_kind(spans, SpanKind.PRODUCER)
    (process,) = by_kind(spans, SpanKind.CONSUMER)
    (inside,) = [span for span in spans.get_finished_spans() if span.name == "inside"]
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert inside.parent is not None and inside.parent.span_id == process.context.span_id
    app.close()
