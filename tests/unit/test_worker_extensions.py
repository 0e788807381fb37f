"""A worker calls its extensions' hooks: running, steering, before_claim (and its deferral), after_ack."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

import arame
from arame.consumers import WorkerSettings
from arame.extensions import Deferral, Extension, Held, WorkerView
from arame.message import TaskMessage
from arame.states import Outcome
from arame.testing import run_until_empty
from arame.transport import BrokerSpec, Subscriber


class Recording(Extension):
    """Notes what the worker told it; holds back each task's first delivery for a moment."""

    def __init__(self) -> None:
        self.ran_as: list[tuple[list[str], str, int]] = []
        self.steered: list[list[str]] = []
        self.offered: list[str] = []
        self.executed: list[str] = []
        self.acked: list[str] = []

    @contextmanager
    def running(self, worker: WorkerView) -> Iterator[None]:
        self.ran_as.append((list(worker.queues), worker.pool, worker.concurrency))
        yield

    def steering(self, spec: BrokerSpec, queues: Sequence[str]) -> Steered:
        return Steered(self, list(queues))

    def before_claim(self, batch: list[Held], defer: Deferral) -> list[Held]:
        fresh = [held for held in batch if held[0].id not in self.offered]
        self.offered += [message.id for message, _ in batch]
        if fresh:
            defer([(held, time.time()) for held in fresh])
        return [held for held in batch if held not in fresh]

    def after_execution(self, message: TaskMessage, outcome: Outcome, seconds: float) -> None:
        self.executed.append(message.id)

    def after_ack(self, messages: Sequence[TaskMessage]) -> None:
        self.acked += [message.id for message in messages]


class Steered:
    def __init__(self, owner: Recording, queues: list[str]) -> None:
        self._owner, self._queues = owner, queues

    def apply(self, subscriber: Subscriber) -> None:
        if not self._owner.steered:
            self._owner.steered.append(self._queues)

    def stop(self) -> None:
        """Nothing to stop."""


@pytest.fixture
def recording(results_url: str) -> Iterator[tuple[arame.App, Recording]]:
    extension = Recording()
    app = arame.App("hooked", broker="memory://", results=results_url, extensions=[extension])
    yield app, extension
    app.close()


def test_a_held_back_task_waits_in_the_broker_then_runs_once_and_its_ack_is_told(
    recording: tuple[arame.App, Recording],
) -> None:
    app, extension = recording

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    handle = add.delay(2, 3)
    run_until_empty(app)
    assert handle.get(timeout=5) == 5
    assert extension.offered == [handle.id, handle.id], "deferred once, offered again when due"
    assert extension.executed == [handle.id]
    assert extension.acked == [handle.id]
    # The worker's queues: "default", and those of shared tasks other tests of this process declared.
    assert "default" in app.queues()
    assert extension.ran_as == [(app.queues(), "thread", 1)]
    assert extension.steered == [app.queues()]


def test_worker_settings_refuse_an_unknown_pool_and_no_concurrency() -> None:
    with pytest.raises(arame.ConfigurationError, match="pool must be one of"):
        WorkerSettings(["q"], pool="gevent")
    with pytest.raises(arame.ConfigurationError, match="at least 1"):
        WorkerSettings(["q"], concurrency=0)
    assert WorkerSettings(["q"], 4, "process").slots_per_consumer == 1
