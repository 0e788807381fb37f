"""The whole pipeline in one process: memory:// broker, SQLite results, burst workers."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

import arame
from arame.consumers import consumer
from arame.errors import UnknownTaskError
from arame.message import TaskMessage
from arame.states import Outcome, Started
from arame.testing import run_until_empty
from arame.transport import Delivery, Publisher, Subscriber, queue_sizes


def _declare_add(app: arame.App) -> arame.Task[[int, int], int]:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    return add


def test_delay_records_a_pending_row_before_any_worker_runs(app: arame.App) -> None:
    add = _declare_add(app)
    handle = add.delay(2, 3)
    assert handle.state == arame.PENDING
    row = handle.row
    assert row is not None
    assert (row.task_name, row.queue, row.attempts) == (add.name, "default", 0)
    assert not handle.ready()
    assert queue_sizes(app.broker, ["default"]) == {"default": 1}


def test_a_burst_worker_runs_the_task_and_get_returns_its_value(app: arame.App) -> None:
    add = _declare_add(app)
    handle = add.delay(2, 3)
    run_until_empty(app)
    assert handle.get(timeout=5) == 5
    assert handle.state == arame.SUCCESS
    assert (handle.ready(), handle.successful(), handle.failed()) == (True, True, False)
    assert handle.result == 5
    assert handle.traceback is None
    assert queue_sizes(app.broker, ["default"]) == {"default": 0}
    row = handle.row
    assert row is not None
    assert row.attempts == 1
    assert row.worker
    assert row.started_at is not None
    assert row.finished_at is not None
    assert row.created_at <= row.started_at <= row.finished_at


def test_a_task_that_raises_records_its_traceback_and_later_tasks_still_run(app: arame.App) -> None:
    @app.task
    def charge(cents: int) -> int:
        if cents <= 0:
            raise ValueError(f"cannot charge {cents} cents")
        return cents

    failing = charge.delay(-5)
    later = charge.delay(100)
    run_until_empty(app)

    with pytest.raises(arame.TaskFailed) as caught:
        failing.get(timeout=5)
    assert caught.value.task_id == failing.id
    assert caught.value.remote_type == "ValueError"
    assert caught.value.remote_message == "cannot charge -5 cents"
    assert caught.value.remote_traceback is not None
    assert 'raise ValueError(f"cannot charge {cents} cents")' in caught.value.remote_traceback
    assert failing.state == arame.FAILURE
    assert failing.failed()
    assert failing.result is None
    assert failing.traceback == caught.value.remote_traceback
    assert later.get(timeout=5) == 100


def test_an_unknown_task_is_recorded_as_a_failure_naming_it(app: arame.App) -> None:
    _declare_add(app)
    handle = app.send(TaskMessage(id=uuid.uuid4().hex, task="nope", queue=app.default_queue))
    assert handle.state == arame.PENDING
    run_until_empty(app)
    assert handle.state == arame.FAILURE
    row = handle.row
    assert row is not None
    assert row.error_type == "TaskNotRegistered"
    assert "'nope'" in (row.error_message or "")
    with pytest.raises(arame.TaskFailed, match="nope"):
        handle.get(timeout=1)


def test_a_body_that_is_not_json_does_not_stop_the_worker(app: arame.App) -> None:
    add = _declare_add(app)
    publisher = Publisher(app.broker)
    try:
        publisher.publish("not json", app.default_queue)
    finally:
        publisher.close()
    handle = add.delay(1, 1)
    run_until_empty(app)
    assert handle.get(timeout=5) == 2
    assert queue_sizes(app.broker, ["default"]) == {"default": 0}


def test_a_body_with_an_id_but_no_task_is_recorded_as_a_malformed_message(app: arame.App) -> None:
    add = _declare_add(app)
    publisher = Publisher(app.broker)
    try:
        publisher.publish(json.dumps({"id": "broken-1", "args": [1]}), app.default_queue)
    finally:
        publisher.close()
    handle = add.delay(1, 1)
    run_until_empty(app)
    row = app.AsyncResult("broken-1").row
    assert row is not None
    assert (row.state, row.error_type) == (arame.FAILURE, "MalformedMessage")
    assert "task" in (row.error_message or "")
    assert handle.get(timeout=5) == 2


def test_apply_async_keeps_the_callers_task_id(app: arame.App) -> None:
    add = _declare_add(app)
    handle = add.apply_async((1, 2), task_id="order-42-total")
    assert handle.id == "order-42-total"
    assert app.AsyncResult("order-42-total").state == arame.PENDING


def test_an_id_no_one_published_reads_unknown(app: arame.App) -> None:
    handle = app.AsyncResult("never-published")
    assert handle.state == arame.UNKNOWN
    assert handle.row is None
    assert handle.result is None
    assert not handle.ready()


def test_get_on_an_unknown_id_raises_arame_timeout_error(app: arame.App) -> None:
    began = time.monotonic()
    with pytest.raises(arame.TimeoutError, match="UNKNOWN") as caught:
        app.AsyncResult("never-published").get(timeout=0.2)
    assert 0.2 <= time.monotonic() - began < 2
    assert isinstance(caught.value, TimeoutError)


def test_get_without_a_timeout_on_an_id_no_one_published_gives_up_after_a_short_grace(
    app: arame.App,
) -> None:
    began = time.monotonic()
    with pytest.raises(UnknownTaskError, match="no task with id never-published was published") as caught:
        app.AsyncResult("never-published").get()
    assert 1 <= time.monotonic() - began < 3
    assert isinstance(caught.value, arame.TimeoutError)
    assert caught.value.task_id == "never-published"


def test_get_waits_out_the_grace_for_a_row_another_process_is_committing(app: arame.App) -> None:
    add = _declare_add(app)
    message = TaskMessage(id=uuid.uuid4().hex, task=add.name, args=(1, 2), queue=app.default_queue)
    timer = threading.Timer(0.3, app.send, args=(message,))
    timer.start()
    try:
        with pytest.raises(arame.TimeoutError, match="PENDING"):
            app.AsyncResult(message.id).get(timeout=1.8)
    finally:
        timer.join()


def test_get_on_a_pending_task_raises_timeout_error_saying_pending(app: arame.App) -> None:
    add = _declare_add(app)
    with pytest.raises(arame.TimeoutError, match="PENDING"):
        add.delay(1, 2).get(timeout=0.05)


def test_a_finished_task_cannot_be_claimed_again(app: arame.App) -> None:
    add = _declare_add(app)
    handle = add.delay(2, 3)
    app.results.claim([Started(handle.id, 1, "host:1", time.time(), add.name, "default")])
    app.results.record(
        [Outcome(handle.id, add.name, "default", arame.SUCCESS, result_json="5", finished_at=time.time())],
    )
    assert handle.state == arame.SUCCESS

    assert app.results.claim([Started(handle.id, 2, "host:2", time.time(), add.name, "default")]) == set()
    assert handle.state == arame.SUCCESS
    assert handle.get(timeout=1) == 5


def test_a_second_outcome_never_overwrites_the_first(app: arame.App) -> None:
    add = _declare_add(app)
    handle = add.delay(2, 3)
    app.results.record([Outcome(handle.id, add.name, "default", arame.SUCCESS, result_json="5")])
    app.results.record([Outcome(handle.id, add.name, "default", arame.FAILURE, error_type="ValueError")])
    assert handle.state == arame.SUCCESS
    assert handle.result == 5


def test_a_worker_started_on_a_thread_runs_the_tasks_published_before_and_stops_when_asked(
    app: arame.App,
) -> None:
    add = _declare_add(app)
    handles = [add.delay(i, i) for i in range(5)]
    worker = app.worker(concurrency=2)
    worker.start()
    try:
        assert [h.get(timeout=10) for h in handles] == [0, 2, 4, 6, 8]
    finally:
        worker.stop(timeout=10)
    assert not [t for t in threading.enumerate() if t.name == "arame-worker" and t.is_alive()]

    after_stop = add.delay(1, 1)
    assert after_stop.state == arame.PENDING
    assert queue_sizes(app.broker, ["default"]) == {"default": 1}


def test_two_slots_run_two_tasks_at_the_same_time(app: arame.App) -> None:
    barrier = threading.Barrier(2, timeout=5)

    @app.task
    def meet() -> int:
        return barrier.wait()

    handles = [meet.delay(), meet.delay()]
    run_until_empty(app, concurrency=2)
    assert sorted(h.get(timeout=5) for h in handles) == [0, 1]


def test_a_burst_worker_consumes_only_the_queues_it_is_given(app: arame.App) -> None:
    @app.task(queue="emails")
    def email() -> str:
        return "sent"

    add = _declare_add(app)
    sent, summed = email.delay(), add.delay(1, 2)
    run_until_empty(app, queues=["emails"])
    assert sent.get(timeout=5) == "sent"
    assert summed.state == arame.PENDING


def test_a_burst_worker_on_empty_queues_returns_promptly(
    app: arame.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker that waited as an idle one does before looking again would take 30 s here: the
    # bound tells the two apart however loaded the machine is.
    monkeypatch.setattr(consumer, "IDLE_WAIT", 30.0)
    _declare_add(app)
    began = time.monotonic()
    run_until_empty(app)
    assert time.monotonic() - began < 10


def test_a_message_delivered_again_after_success_does_not_run_the_function_again(tmp_path) -> None:
    # The SQL transport on a SQLite file: a message taken and not acknowledged comes back
    # flagged as redelivered, as it does after a worker dies.
    app = arame.App("redeliver", broker=f"sqlite:///{tmp_path}/b.db", results=f"sqlite:///{tmp_path}/r.db")
    calls: list[int] = []

    @app.task
    def charge(cents: int) -> int:
        calls.append(cents)
        return cents

    handle = charge.delay(100)
    taken: list[Delivery] = []
    subscriber = Subscriber(app.broker, ["default"], 1, taken.append)
    subscriber.open()
    while not taken:
        subscriber.drain(1.0)
    # The first worker recorded SUCCESS, then died before its ack.
    app.results.record([Outcome(handle.id, charge.name, "default", arame.SUCCESS, result_json="100")])
    subscriber.close()

    run_until_empty(app, concurrency=1)
    assert handle.get(timeout=5) == 100
    assert calls == []
    assert queue_sizes(app.broker, ["default"]) == {"default": 0}
    app.close()


def test_a_task_that_raises_retry_runs_again(app: arame.App) -> None:
    attempts: list[int] = []

    @app.task
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise arame.Retry(countdown=0)
        return "ok"

    handle = flaky.delay()
    run_until_empty(app)
    assert handle.get(timeout=5) == "ok"


def test_map_publishes_one_task_per_argument_tuple_with_the_given_options(app: arame.App) -> None:
    add = _declare_add(app)

    handles = add.map([(1, 2), (3, 4), (5, 6)], priority=7, queue="sums")

    assert [h.state for h in handles] == [arame.PENDING] * 3
    assert len({h.id for h in handles}) == 3
    assert queue_sizes(app.broker, ["sums"]) == {"sums": 3}
    run_until_empty(app, queues=["sums"])
    assert [h.get(timeout=5) for h in handles] == [3, 7, 11]


def test_a_message_with_too_few_arguments_in_a_batch_fails_alone(app: arame.App) -> None:
    add = _declare_add(app)
    # Published around Task.map, which refuses such arguments: as another producer could.
    good, bad = app.send_many(
        [
            TaskMessage(id=uuid.uuid4().hex, task=add.name, args=args, queue=app.default_queue)
            for args in ((1, 2), (1,))
        ]
    )
    run_until_empty(app)

    assert good.get(timeout=5) == 3
    with pytest.raises(arame.TaskFailed, match=r"do not fit"):
        bad.get(timeout=5)


def test_many_short_tasks_run_once_each_through_the_batched_claims(app: arame.App) -> None:
    add = _declare_add(app)
    handles = add.map([(n, n) for n in range(500)])

    run_until_empty(app, concurrency=3)

    assert [h.get(timeout=5) for h in handles] == [2 * n for n in range(500)]
    assert {h.row.attempts for h in handles} == {1}


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2, 3), {}), ((1, 2), {"z": 3}), ((1,), {"x": 2})],
    ids=["too few", "too many", "unknown keyword", "twice"],
)
def test_arguments_that_do_not_fit_the_signature_fail_without_calling_the_function(
    app: arame.App, args: tuple[int, ...], kwargs: dict[str, int]
) -> None:
    calls: list[tuple[int, int]] = []

    @app.task
    def add(x: int, y: int) -> int:
        calls.append((x, y))
        return x + y

    handle = app.send(TaskMessage(id=uuid.uuid4().hex, task=add.name, args=args, kwargs=kwargs))
    run_until_empty(app)

    assert handle.state == arame.FAILURE
    assert handle.row.error_type == "InvalidArguments"
    assert f"arguments do not fit {add.name}(" in handle.row.error_message
    assert calls == []
