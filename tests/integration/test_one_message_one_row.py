"""One message never changes another task's row, on every broker.

A message the worker refuses (malformed, unknown task, arguments that do not fit, unsigned,
too large) is injected with the id of a real task whose PENDING row and message already exist;
the real task must still run and end SUCCESS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import arame
from arame.message import TaskMessage, new_task_id
from arame.signing import SIGNATURE_HEADER
from arame.transport import Publisher, list_dead, queue_sizes

TIMEOUT = 30
SMALL_LIMIT = 2048


class Bench:
    """An app with one task on a fresh queue, and a way to publish bodies past its producer."""

    def __init__(self, broker_url: str, results_url: str, queue: str, **settings: Any) -> None:
        self.queue = queue
        self.app = arame.App("rows", broker=broker_url, results=results_url, **settings)

        @self.app.task(name="rows.add", queue=queue)
        def add(x: int, y: int) -> int:
            return x + y

        self.add = add

    def publish_raw(self, body: dict[str, Any] | str, headers: dict[str, Any] | None = None) -> None:
        publisher = Publisher(self.app.broker)
        try:
            publisher.publish(body if isinstance(body, str) else json.dumps(body), self.queue, None, headers)
        finally:
            publisher.close()

    def real_task(self) -> TaskMessage:
        """A real task's PENDING row, written as ``send()`` does; its message is not published yet."""
        message = TaskMessage(id=new_task_id(), task="rows.add", args=(2, 3), queue=self.queue)
        self.app.results.add_pending(message)
        return message

    @contextmanager
    def worker(self, concurrency: int = 1) -> Iterator[None]:
        worker = self.app.worker(queues=[self.queue], concurrency=concurrency)
        worker.start()
        try:
            yield
        finally:
            worker.stop(timeout=TIMEOUT)

    def dead_letters(self, count: int) -> list[Any]:
        deadline = time.monotonic() + TIMEOUT
        while len(found := list_dead(self.app.broker, self.queue)) < count:
            assert time.monotonic() < deadline, f"{count} dead letter(s) expected, found {found}"
            time.sleep(0.05)
        return found


@pytest.fixture
def bench(broker_url: str, results_url: str, new_queue: Callable[[], str]) -> Iterator[Bench]:
    made = Bench(broker_url, results_url, new_queue())
    yield made
    made.app.close()


def _impostor(kind: str, message: TaskMessage) -> dict[str, Any]:
    """A body with the real task's id that the worker must refuse."""
    if kind == "malformed":
        return {"v": 1, "id": message.id, "args": []}  # no task name
    if kind == "unknown-task":
        return {"v": 1, "id": message.id, "task": "rows.nobody", "args": [], "queue": message.queue}
    # Same name, arguments that do not fit, written by someone else (its own creation time).
    return {"v": 1, "id": message.id, "task": "rows.add", "args": [1], "queue": message.queue, "created": 1.0}


@pytest.mark.parametrize("kind", ["malformed", "unknown-task", "invalid-arguments"])
def test_a_refused_message_with_the_id_of_a_pending_task_leaves_the_row_to_the_real_task(
    bench: Bench, kind: str
) -> None:
    real = bench.real_task()
    bench.publish_raw(_impostor(kind, real))  # arrives first
    bench.app.producer.publish(real)

    with bench.worker():
        assert bench.app.AsyncResult(real.id).get(timeout=TIMEOUT) == 5
        letters = bench.dead_letters(1)

    assert [letter.task_id for letter in letters] == [real.id]
    row = bench.app.results.read(real.id)
    assert (row.state, row.error_type, row.result) == (arame.SUCCESS, None, 5)


def test_a_refused_message_with_an_id_of_its_own_still_records_why(bench: Bench) -> None:
    lone = new_task_id()
    bench.publish_raw({"v": 1, "id": lone, "task": "rows.nobody", "args": [], "queue": bench.queue})

    with bench.worker():
        bench.dead_letters(1)
        row = bench.app.AsyncResult(lone)
        deadline = time.monotonic() + TIMEOUT
        while row.state != arame.FAILURE:
            assert time.monotonic() < deadline, row.state
            time.sleep(0.05)

    assert bench.app.results.read(lone).error_type == "TaskNotRegistered"


def test_a_published_task_that_no_worker_knows_fails_its_own_row(bench: Bench) -> None:
    unknown = bench.app.send(TaskMessage(id=new_task_id(), task="rows.nobody", queue=bench.queue))

    with bench.worker(), pytest.raises(arame.TaskFailed) as failed:
        unknown.get(timeout=TIMEOUT)

    assert failed.value.remote_type == "TaskNotRegistered"


def test_an_unsigned_oversized_message_with_a_signed_tasks_id_writes_no_row(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    bench = Bench(
        broker_url, results_url, new_queue(), signing_keys={"k1": "secret"}, max_message_size=SMALL_LIMIT
    )
    try:
        real = bench.real_task()
        oversized = {"v": 1, "id": real.id, "task": "rows.add", "args": [2, 3], "pad": "x" * 2 * SMALL_LIMIT}
        bench.publish_raw(oversized)  # unsigned
        bench.publish_raw(oversized, {SIGNATURE_HEADER: "k1:forged"})  # altered
        bench.app.producer.publish(real)

        with bench.worker():
            assert bench.app.AsyncResult(real.id).get(timeout=TIMEOUT) == 5
            letters = bench.dead_letters(2)

        assert [letter.reason.split(":")[0] for letter in letters] == ["BadSignature", "BadSignature"]
        assert bench.app.results.read(real.id).state == arame.SUCCESS
    finally:
        bench.app.close()


@pytest.mark.parametrize("too_long", ["task_id", "queue"])
def test_an_id_or_queue_longer_than_the_columns_is_refused_before_anything_is_written(
    bench: Bench, too_long: str
) -> None:
    task_id = "i" * 256 if too_long == "task_id" else new_task_id()
    queue = "q" * 256 if too_long == "queue" else bench.queue

    with pytest.raises(arame.MessageError, match="over the limit of 255"):
        bench.add.apply_async((1, 2), task_id=task_id, queue=queue)

    assert bench.app.results.read(task_id) is None
    assert queue_sizes(bench.app.broker, [bench.queue]) == {bench.queue: 0}


def test_a_task_name_longer_than_the_column_is_refused_before_anything_is_written(bench: Bench) -> None:
    long_name = bench.app.task(name="n" * 256, queue=bench.queue)(lambda: None)

    with pytest.raises(arame.MessageError, match="task name"):
        long_name.delay()
