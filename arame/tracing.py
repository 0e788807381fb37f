"""Traces for publishing and running tasks, through OpenTelemetry when the ``otel`` extra is there.

Three hooks call in here: ``App.send``/``send_many`` (``sending``), ``execute`` (``run``) and
the asyncio pool's ``aexecute`` (``processing``). Without OpenTelemetry installed nothing is
imported, ever; with it installed but no tracer provider configured, each hook costs one check.
The spans themselves are made in ``arame._otel``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from types import ModuleType
from typing import TYPE_CHECKING, Any

from arame.message import TaskMessage

if TYPE_CHECKING:
    from arame.task import Task

_UNRESOLVED = object()
_impl: Any = _UNRESOLVED


def _otel() -> ModuleType | None:
    """``arame._otel`` when OpenTelemetry's API is installed, else ``None`` (looked up once)."""
    global _impl  # noqa: PLW0603 - resolved once per process; the one answer never changes
    if _impl is _UNRESOLVED:
        installed = importlib.util.find_spec("opentelemetry") is not None
        _impl = importlib.import_module("arame._otel") if installed else None
    return _impl  # type: ignore[no-any-return]


def _active() -> ModuleType | None:
    """``arame._otel`` when a tracer provider is configured, else ``None``."""
    impl = _otel()
    return impl if impl is not None and impl.configured() else None


def sending(messages: Sequence[TaskMessage]) -> AbstractContextManager[Sequence[TaskMessage]]:
    """Around a publish: PRODUCER spans ``send {queue}``, and the messages carrying their context.

    Yields the messages to write and publish: the same ones when tracing is off, else copies
    whose ``trace`` holds the W3C context of their span. An exception ends the spans as errors.
    """
    impl = _active()
    if impl is None:
        return nullcontext(messages)  # every publish comes here: no generator frame when off
    return impl.send_spans(messages)  # type: ignore[no-any-return]


def run(task: Task[Any, Any], message: TaskMessage, worker: str) -> Any:
    """Run the task of ``message``, inside a CONSUMER span ``process {queue}`` when tracing is on.

    The span is linked to the sender's (and its child, with ``App(trace_parent=True)``); the
    task's exception is recorded on it, then raised on as it is.
    """
    impl = _active()
    if impl is None:
        return task.run_message(message, worker)
    return impl.process(task, message, worker)


def processing(task: Task[Any, Any], message: TaskMessage) -> AbstractContextManager[None]:
    """Around awaiting an async task (the asyncio pool): its CONSUMER span when tracing is on."""
    impl = _active()
    if impl is None:
        return nullcontext()
    span: AbstractContextManager[None] = impl.process_span(task, message)
    return span
