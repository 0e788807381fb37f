"""Traces for publishing and running tasks, through OpenTelemetry when the ``otel`` extra is there.

One extension, ``Tracing``: a PRODUCER span around each publish (the message carries its
context) and a CONSUMER span around each run. Without OpenTelemetry installed nothing is
imported, ever; with it installed but no tracer provider configured, each hook costs one check.
The spans themselves are made in ``arame.tracing.spans``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from types import ModuleType
from typing import TYPE_CHECKING, Any

from arame.extensions import Extension
from arame.message import TaskMessage

if TYPE_CHECKING:
    from arame.task import Task

_UNRESOLVED = object()
_impl: Any = _UNRESOLVED


def _spans() -> ModuleType | None:
    """``arame.tracing.spans`` when OpenTelemetry's API is installed, else ``None`` (looked up once)."""
    global _impl  # noqa: PLW0603 - resolved once per process; the one answer never changes
    if _impl is _UNRESOLVED:
        installed = importlib.util.find_spec("opentelemetry") is not None
        _impl = importlib.import_module("arame.tracing.spans") if installed else None
    return _impl  # type: ignore[no-any-return]


def _active() -> ModuleType | None:
    """``arame.tracing.spans`` when a tracer provider is configured, else ``None``."""
    impl = _spans()
    return impl if impl is not None and impl.configured() else None


class Tracing(Extension):
    """PRODUCER spans around publishes, CONSUMER spans around runs, when tracing is on."""

    def on_publish(self, messages: Sequence[TaskMessage]) -> AbstractContextManager[Sequence[TaskMessage]]:
        """PRODUCER spans ``send {queue}``; yields copies whose ``trace`` holds their span's context.

        The same messages when tracing is off. An exception ends the spans as errors.
        """
        impl = _active()
        if impl is None:
            return nullcontext(messages)
        return impl.send_spans(messages)  # type: ignore[no-any-return]

    def around_execution(self, task: Task[Any, Any], message: TaskMessage) -> AbstractContextManager[None]:
        """A CONSUMER span ``process {queue}``, linked to the sender's (its child, with
        ``App(trace_parent=True)``); the task's exception is recorded on it."""
        impl = _active()
        if impl is None:
            return nullcontext()
        span: AbstractContextManager[None] = impl.process_span(task, message)
        return span
