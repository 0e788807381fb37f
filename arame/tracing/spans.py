"""The OpenTelemetry spans of ``arame.tracing``; imported only when OpenTelemetry is installed.

Attributes follow OpenTelemetry's messaging conventions: ``messaging.system``,
``messaging.destination.name`` (the queue), ``messaging.message.id`` (the task id) and
``messaging.operation.type`` (``send`` or ``process``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from arame.errors import Retry
from arame.message import TaskMessage

if TYPE_CHECKING:
    from arame.task import Task

SYSTEM = "arame"
_cached: tuple[trace.TracerProvider, trace.Tracer] | None = None


def configured() -> bool:
    """Whether the application set a tracer provider (the default one only proxies to nothing)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _tracer() -> trace.Tracer:
    """arame's tracer from the current provider (kept while the provider stays the same)."""
    global _cached  # noqa: PLW0603 - a cache of one: the provider rarely changes, if ever
    provider = trace.get_tracer_provider()
    if _cached is None or _cached[0] is not provider:
        _cached = (provider, provider.get_tracer("arame"))
    return _cached[1]


def _attributes(message: TaskMessage, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": SYSTEM,
        "messaging.destination.name": message.queue,
        "messaging.message.id": message.id,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "arame.task.name": message.task,
    }


@contextmanager
def send_spans(messages: Sequence[TaskMessage]) -> Iterator[list[TaskMessage]]:
    """One PRODUCER span per message, children of the current span and siblings of each other.

    Yields the messages carrying their span's context; an exception ends the spans as errors.
    """
    spans = [
        _tracer().start_span(f"send {m.queue}", kind=SpanKind.PRODUCER, attributes=_attributes(m, "send"))
        for m in messages
    ]
    traced = []
    for message, span in zip(messages, spans, strict=True):
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        traced.append(replace(message, trace=carrier or None))
    # One message: its span is current while it is written and published, so instrumented
    # database and broker clients nest under it.
    current = (
        trace.use_span(spans[0], record_exception=False, set_status_on_exception=False)
        if len(spans) == 1
        else nullcontext()
    )
    try:
        with current:
            yield traced
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        for span in spans:
            span.end()


@contextmanager
def process_span(task: Task[Any, Any], message: TaskMessage) -> Iterator[None]:
    """The CONSUMER span ``process {queue}`` around running a task; records what it raises."""
    sent = propagate.extract(message.trace) if message.trace else None
    sender = trace.get_current_span(sent).get_span_context() if sent is not None else None
    links = [Link(sender)] if sender is not None and sender.is_valid else []
    parent = sent if sent is not None and getattr(task.app, "trace_parent", False) else context.Context()
    attributes = _attributes(message, "process")
    attributes["arame.task.attempt"] = message.attempt + 1
    with _tracer().start_as_current_span(
        f"process {message.queue}",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except BaseException as exc:
            span.record_exception(exc)
            if not isinstance(exc, Retry):  # a retry the task asked for is not an error
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
