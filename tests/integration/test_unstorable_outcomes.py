"""An outcome the database refuses is stored sanitised; the rest of its batch is committed once.

PostgreSQL refuses a NUL byte in text; PostgreSQL and MariaDB (strict mode) refuse a value longer
than its column; no database holds a time past the year 9999, a NaN time or a 70-bit attempt
count (SQLite's driver refuses the count before the database sees it). The writer must tell
that from a database that is down: no retrying for a minute, no giving the whole batch back
(its other tasks would run again).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import arame
from arame import states
from arame.consumers.writer import OutcomeWriter
from arame.errors import ResultStoreError
from arame.message import TaskMessage
from arame.results import ResultStore
from arame.states import Outcome
from tests.cleanup import delete_result_rows
from tests.integration.conftest import MYSQL_URL, POSTGRES_URL

DATABASES = [
    pytest.param(POSTGRES_URL, id="postgres", marks=pytest.mark.postgres),
    pytest.param(MYSQL_URL, id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest) -> Iterator[tuple[ResultStore, str]]:
    yield from _store(request.param)


@pytest.fixture(params=[pytest.param("sqlite:///{tmp}/results.db", id="sqlite"), *DATABASES])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ResultStore, str]]:
    yield from _store(request.param.format(tmp=tmp_path))


def _store(url: str) -> Iterator[tuple[ResultStore, str]]:
    queue = f"arame-test-{uuid.uuid4().hex}"
    made = ResultStore(url)
    yield made, queue
    made.close()
    delete_result_rows(url, [queue])


def _outcome(queue: str, **fields: Any) -> Outcome:
    values: dict[str, Any] = {"state": states.SUCCESS, "result_json": "5", "finished_at": time.time()}
    values.update(fields)
    return Outcome(uuid.uuid4().hex, "tests.add", queue, **values)


def _commit_one_batch(store: ResultStore, outcomes: list[Outcome]) -> list[tuple[Any, bool]]:
    """Hand the outcomes to a writer before it starts (one batch); return what it reported."""
    reported: list[tuple[Any, bool]] = []
    done = threading.Event()

    def on_done(delivery: Any, committed: bool) -> None:
        reported.append((delivery, committed))
        if len(reported) == len(outcomes):
            done.set()

    writer = OutcomeWriter(store, on_done, retry_for=5.0)
    for number, outcome in enumerate(outcomes):
        store.add_pending(TaskMessage(id=outcome.task_id, task="tests.add", queue=outcome.queue))
        writer.finished(outcome, number)
    began = time.monotonic()
    writer.start()
    assert done.wait(30)
    writer.stop()
    assert time.monotonic() - began < 4, "the writer retried a write that could never succeed"
    return reported


def test_a_refused_outcome_is_stored_sanitised_and_the_rest_of_its_batch_once(
    store: tuple[ResultStore, str],
) -> None:
    results, queue = store
    bad_fields: dict[str, Any] = {"error_type": "E" * 300}  # longer than the column, everywhere
    if results.engine.dialect.name == "postgresql":
        bad_fields["error_message"] = "before\x00after"  # PostgreSQL refuses NUL in text
        bad_fields["traceback"] = "Traceback\x00"
    good_before, good_after = _outcome(queue), _outcome(queue)
    bad = _outcome(queue, state=states.FAILURE, result_json=None, **bad_fields)

    reported = _commit_one_batch(results, [good_before, bad, good_after])

    assert sorted(reported) == [(0, True), (1, True), (2, True)]
    for good in (good_before, good_after):
        assert results.read(good.task_id).state == states.SUCCESS
    row = results.read(bad.task_id)
    assert row.state == states.FAILURE
    assert row.error_type == "E" * 252 + "..."
    assert "stored sanitised" in row.error_message
    if "error_message" in bad_fields:
        assert row.error_message.startswith("before\\x00after")
        assert row.traceback == "Traceback\\x00"


@pytest.mark.parametrize(
    "numbers",
    [
        {"started_at": float("nan")},
        {"finished_at": 1e300},
        {"attempts": 2**70},
        {"own_row_only": True, "created": 1e300},  # a refused message's outcome
    ],
    ids=["started-nan", "finished-1e300", "attempts-2**70", "created-1e300"],
)
def test_an_outcome_with_a_number_no_column_holds_is_stored_sanitised_and_the_rest_of_its_batch_once(
    any_store: tuple[ResultStore, str], numbers: dict[str, Any]
) -> None:
    results, queue = any_store
    good_before, good_after = _outcome(queue), _outcome(queue)
    bad = _outcome(queue, state=states.FAILURE, result_json=None, error_type="Refused", **numbers)

    reported = _commit_one_batch(results, [good_before, bad, good_after])

    assert sorted(reported) == [(0, True), (1, True), (2, True)]
    for good in (good_before, good_after):
        assert results.read(good.task_id).state == states.SUCCESS
    row = results.read(bad.task_id)
    if bad.own_row_only:  # its creation time dropped, it names no row: the one there stays
        assert row.state == states.PENDING
        return
    assert (row.state, row.error_type) == (states.FAILURE, "Refused")
    assert "stored sanitised" in row.error_message
    assert row.attempts == min(bad.attempts, 2**31 - 1)


def test_the_store_tells_a_refused_row_from_a_database_that_is_down(store: tuple[ResultStore, str]) -> None:
    results, queue = store
    too_long = _outcome(queue, error_type="E" * 300)
    results.add_pending(TaskMessage(id=too_long.task_id, task="tests.add", queue=queue))
    with pytest.raises(ResultStoreError) as refused:
        results.record([too_long])
    assert refused.value.unstorable

    down = ResultStore("postgresql+psycopg://127.0.0.1:1/test")
    with pytest.raises(ResultStoreError) as unreachable:
        down.record([_outcome(queue)])
    assert not unreachable.value.unstorable


@pytest.fixture
def shop(broker_url: str, results_url: str, new_queue: Callable[[], str]) -> Iterator[tuple[arame.App, str]]:
    if not results_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL refuses a NUL byte in text")
    queue = new_queue()
    app = arame.App("nul", broker=broker_url, results=results_url)
    yield app, queue
    app.close()


def test_a_task_whose_error_holds_a_nul_byte_fails_readably_and_the_worker_goes_on(
    shop: tuple[arame.App, str],
) -> None:
    app, queue = shop
    runs: list[int] = []

    @app.task(name="nul.boom", queue=queue)
    def boom() -> None:
        raise ValueError("bad\x00byte")

    @app.task(name="nul.add", queue=queue)
    def add(x: int, y: int) -> int:
        runs.append(x)
        return x + y

    handles = [add.delay(i, 1) for i in range(5)]
    failing = boom.delay()
    handles += [add.delay(i, 1) for i in range(5, 10)]
    worker = app.worker(queues=[queue], concurrency=2)
    worker.start()
    try:
        with pytest.raises(arame.TaskFailed) as failed:
            failing.get(timeout=10)
        assert [handle.get(timeout=10) for handle in handles] == [i + 1 for i in range(10)]
    finally:
        worker.stop(timeout=30)

    assert failed.value.remote_type == "ValueError"
    assert failed.value.remote_message.startswith("bad\\x00byte")
    assert sorted(runs) == list(range(10)), "a task of the refused outcome's batch ran again"
