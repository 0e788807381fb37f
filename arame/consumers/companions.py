"""Companions: services a worker runs beside its consumers, in its main process (the outbox relay)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol


class Companion(Protocol):
    """Started when the worker starts consuming, stopped when it has finished."""

    def start(self) -> None:
        """Start, on a thread of its own; must not raise for an unreachable server."""

    def stop(self) -> None:
        """Stop."""


@contextmanager
def alongside(companions: Sequence[Companion]) -> Iterator[None]:
    """Run ``companions`` for the duration of the block."""
    for companion in companions:
        companion.start()
    try:
        yield
    finally:
        for companion in companions:
            companion.stop()
