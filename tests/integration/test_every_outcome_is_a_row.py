"""Whatever a task does, its row ends in a state; a slot that dies anyway is replaced.

A task that raises a ``BaseException`` (``asyncio.CancelledError``, ``GeneratorExit``,
``KeyboardInterrupt``) or returns a value JSON cannot encode used to kill its slot thread: the
row stayed STARTED and the tasks behind it never ran. One slot, so a dead one blocks the rest.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import arame
from arame.consumers import Admission, Worker, WorkerSettings
from arame.states import Started
from tests.integration.conftest import FEATURE_BROKERS, on_brokers

pytestmark = on_brokers(FEATURE_BROKERS)

TIMEOUT = 15


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


class Doomed:
    """An app whose tasks end in every way a slot thread could die of."""

    def __init__(self, broker_url: str, results_url: str, queue: str) -> None:
        self.queue = queue
        self.app = arame.App("doomed", broker=broker_url, results=results_url)
        task = self.app.task

        @task(name="doomed.cancelled", queue=queue)
        def cancelled() -> None:
            raise asyncio.CancelledError("the event loop went away")

        @task(name="doomed.generator_exit", queue=queue)
        def generator_exit() -> None:
            raise GeneratorExit

        @task(name="doomed.interrupted", queue=queue)
        def interrupted() -> None:
            raise KeyboardInterrupt

        @task(name="doomed.deep", queue=queue)
        def deep() -> list[Any]:
            return _deep(100_000)

        @task(name="doomed.add", queue=queue)
        def add(x: int, y: int) -> int:
            return x + y

        self.tasks = [cancelled, generator_exit, interrupted, deep]
        self.add = add

    def run(self, worker: Worker) -> None:
        """Run a burst worker on a thread; fail if it has not drained the queue in time."""
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        thread.join(TIMEOUT)
        if thread.is_alive():
            worker.stop(now=True)
            thread.join(TIMEOUT)
            pytest.fail("the worker never drained its queue: a slot is stuck or dead")


EXPECTED = [
    ("asyncio.exceptions.CancelledError", "the event loop went away"),
    ("GeneratorExit", ""),
    ("KeyboardInterrupt", ""),
    ("UnserializableResult", "the return value is not JSON-serialisable: RecursionError"),
]


def _check(doomed: Doomed, handles: Sequence[arame.AsyncResult], after: arame.AsyncResult) -> None:
    for handle, (error_type, message) in zip(handles, EXPECTED, strict=True):
        row = doomed.app.results.read(handle.id)
        assert (row.state, row.error_type) == (arame.FAILURE, error_type)
        assert (row.error_message or "").startswith(message)
    assert after.get(timeout=TIMEOUT) == 3


@pytest.fixture
def doomed(broker_url: str, results_url: str, new_queue: Callable[[], str]) -> Iterator[Doomed]:
    made = Doomed(broker_url, results_url, new_queue())
    yield made
    made.app.close()


def test_a_task_ending_in_a_base_exception_or_an_unencodable_value_fails_and_the_slot_goes_on(
    doomed: Doomed,
) -> None:
    handles = [task.delay() for task in doomed.tasks]
    after = doomed.add.delay(1, 2)

    doomed.run(doomed.app.worker(queues=[doomed.queue], concurrency=1, burst=True))

    _check(doomed, handles, after)


def test_the_process_pool_turns_every_ending_into_a_row_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/both.db"
    doomed = Doomed(url, url, "doomed")
    try:
        handles = [task.delay() for task in doomed.tasks]
        after = doomed.add.delay(1, 2)

        doomed.run(doomed.app.worker(queues=[doomed.queue], concurrency=1, pool="process", burst=True))

        _check(doomed, handles, after)
    finally:
        doomed.app.close()


class SlotKiller(BaseException):
    """Stands for any failure no handler in the slot's loop expects."""


class KillsFirstClaim:
    """A recorder whose first claim (in each process) raises past every handler of the slot."""

    def __init__(self, recorder: Any) -> None:
        self._recorder = recorder
        self._killed = False

    def claim(self, starts: Sequence[Started]) -> set[str]:
        if not self._killed:
            self._killed = True
            raise SlotKiller("the slot thread dies here")
        return set(self._recorder.claim(starts))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recorder, name)


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_a_slot_thread_that_dies_is_replaced_and_its_tasks_given_back(tmp_path: Path, pool: str) -> None:
    url = f"sqlite:///{tmp_path}/both.db"
    doomed = Doomed(url, url, "doomed")
    try:
        handles = [doomed.add.delay(i, 2) for i in range(3)]
        app = doomed.app
        admission = Admission(app.tasks, app.max_message_size, app.max_deliveries, app.signer)
        recorder = KillsFirstClaim(app.results)

        settings = WorkerSettings([doomed.queue], pool=pool, burst=True)
        doomed.run(Worker(app.broker, admission, recorder, settings))

        assert [handle.get(timeout=TIMEOUT) for handle in handles] == [2, 3, 4]
    finally:
        doomed.app.close()
