"""One contract every results database keeps: arame.results.ResultStore on SQLite, PostgreSQL, MariaDB.

Each test gets an empty namespace of its own (``database_url``, see conftest.py: a SQLite file,
a PostgreSQL schema, a MariaDB database), dropped afterwards, so the table is always created by
the store under test.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import arame
from arame.message import TaskMessage
from arame.results import AsyncResult, ResultStore
from arame.results.results_table import results as results_table
from arame.states import FAILURE, PENDING, REVOKED, STARTED, SUCCESS, UNKNOWN, Outcome, Started

QUEUE = "contract"
TRACEBACK = 'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\nValueError: no luck\n'


@pytest.fixture
def store(database_url: str) -> Iterator[ResultStore]:
    store = ResultStore(database_url)
    yield store
    store.close()


def new_id() -> str:
    return uuid.uuid4().hex


def published(store: ResultStore, task_id: str | None = None, attempt: int = 0) -> str:
    """Record a task as published (PENDING) at ``attempt`` and return its id."""
    task_id = task_id or new_id()
    store.add_pending(TaskMessage(id=task_id, task="shop.add", queue=QUEUE, attempt=attempt))
    return task_id


def started(task_id: str, attempts: int = 1) -> Started:
    return Started(task_id, attempts, "host:1", time.time(), "shop.add", QUEUE)


def success(task_id: str, value: object) -> Outcome:
    now = time.time()
    return Outcome(
        task_id,
        "shop.add",
        QUEUE,
        SUCCESS,
        result_json=json.dumps(value),
        worker="host:1",
        started_at=now,
        finished_at=now,
    )


def failure(task_id: str) -> Outcome:
    now = time.time()
    return Outcome(
        task_id,
        "shop.boom",
        QUEUE,
        FAILURE,
        error_type="ValueError",
        error_message="no luck",
        traceback=TRACEBACK,
        worker="host:1",
        started_at=now,
        finished_at=now,
    )


def rows_with_id(store: ResultStore, task_id: str) -> int:
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(results_table).where(results_table.c.id == task_id)
        return conn.execute(query).scalar_one()


def test_the_table_is_created_on_first_use(database_url, store):
    engine = sa.create_engine(database_url)
    try:
        assert not sa.inspect(engine).has_table(results_table.name)

        assert store.read(new_id()) is None

        assert sa.inspect(engine).has_table(results_table.name)
    finally:
        engine.dispose()


def test_a_published_task_reads_pending(store):
    task_id = published(store)

    row = store.read(task_id)

    assert row is not None
    assert (row.id, row.state, row.task_name, row.queue) == (task_id, PENDING, "shop.add", QUEUE)
    assert row.result is None and not row.ready
    assert row.created_at.tzinfo is not None
    assert AsyncResult(task_id, store).state == PENDING


def test_an_id_never_published_reads_unknown(store):
    task_id = new_id()

    assert store.read(task_id) is None
    assert AsyncResult(task_id, store).state == UNKNOWN == "UNKNOWN"
    assert AsyncResult(task_id, store).row is None


def test_publishing_the_same_id_twice_keeps_one_row(store):
    task_id = published(store)
    store.add_pending(TaskMessage(id=task_id, task="shop.other", queue="elsewhere"))

    assert rows_with_id(store, task_id) == 1
    assert store.read(task_id).task_name == "shop.add"


def test_a_claim_moves_a_pending_task_to_started(store):
    task_id = published(store)

    assert store.claim([started(task_id)]) == {task_id}

    row = store.read(task_id)
    assert row.state == STARTED
    assert (row.worker, row.attempts) == ("host:1", 1)
    assert row.started_at is not None


def test_a_success_is_stored_with_its_result_decoded(store):
    task_id = published(store)
    value = {"total": 5, "items": [1, 2.5, None, "café ✓"], "ok": True}

    store.claim([started(task_id)])
    store.record([success(task_id, value)])

    row = store.read(task_id)
    assert row.state == SUCCESS and row.ready
    assert row.result == value
    assert row.error_type is None and row.traceback is None
    assert row.created_at <= row.finished_at
    assert AsyncResult(task_id, store).result == value


def test_a_finished_task_cannot_be_claimed_and_keeps_its_result(store):
    task_id = published(store)
    store.record([success(task_id, 5)])

    assert store.claim([started(task_id)]) == set()

    row = store.read(task_id)
    assert (row.state, row.result) == (SUCCESS, 5)


def test_a_revoked_task_cannot_be_claimed(store):
    task_id = published(store)
    assert store.revoke(task_id)

    assert store.claim([started(task_id)]) == set()
    assert store.read(task_id).state == REVOKED


def test_a_claimed_task_can_no_longer_be_revoked_without_terminate(store):
    task_id = published(store)
    store.claim([started(task_id)])

    assert not store.revoke(task_id)
    assert store.read(task_id).state == STARTED


def test_a_claim_for_an_earlier_attempt_than_the_row_records_is_refused(store):
    task_id = published(store, attempt=2)
    store.claim([started(task_id, attempts=3)])

    assert store.claim([started(task_id, attempts=2)]) == set()
    assert store.read(task_id).attempts == 3


def test_a_running_task_is_claimed_again_by_its_own_copy_and_never_by_another(store):
    task_id, other = published(store), published(store)
    first = dataclasses.replace(started(task_id), copy="")
    store.claim([first])

    # A second copy of the message (a retry published while the first still waited) is refused,
    assert store.claim([dataclasses.replace(first, copy="retried")]) == set()
    # the first copy, back after its worker died, runs again,
    assert store.claim([first]) == {task_id}
    # and a copy that claims a row not yet running wins it from the first one.
    assert store.claim([dataclasses.replace(started(other), copy="retried")]) == {other}
    assert store.claim([dataclasses.replace(started(other), copy="")]) == set()
    assert store.read(other).claim == "retried"


def test_a_claim_by_a_message_counting_more_attempts_than_its_row_is_refused(store):
    task_id = published(store)  # a forged copy of it counts 50 attempts before its own
    real, ahead = started(task_id, attempts=1), started(task_id, attempts=51)

    assert store.claim([ahead]) == set()
    assert (store.read(task_id).state, store.read(task_id).attempts) == (PENDING, 0)
    assert store.claim([real]) == {task_id}
    assert store.read(task_id).attempts == 1


def test_a_claim_of_a_batch_returns_only_the_runnable_ids(store):
    pending, done, revoked, unknown = published(store), published(store), published(store), new_id()
    retried = published(store, attempt=1)
    store.record([success(done, 1)])
    store.revoke(revoked)
    batch = [started(pending), started(done), started(revoked), started(unknown), started(retried, 2)]

    assert store.claim(batch) == {pending, unknown, retried}

    assert store.read(unknown).state == STARTED
    assert store.read(unknown).task_name == "shop.add"
    assert store.read(retried).attempts == 2


def test_the_first_outcome_wins_over_a_later_one(store):
    task_id = published(store)
    store.record([success(task_id, 5)])

    store.record([failure(task_id)])
    store.record([success(task_id, 6)])

    row = store.read(task_id)
    assert (row.state, row.result, row.error_type) == (SUCCESS, 5, None)
    assert rows_with_id(store, task_id) == 1


def test_an_outcome_for_an_id_without_a_row_inserts_one(store):
    task_id = new_id()

    store.record([failure(task_id)])

    row = store.read(task_id)
    assert (row.state, row.task_name, row.error_type, row.error_message) == (
        FAILURE,
        "shop.boom",
        "ValueError",
        "no luck",
    )
    assert row.created_at is not None


def test_forget_pending_deletes_only_pending_rows(store):
    pending, running, done = published(store), published(store), published(store)
    store.claim([started(running)])
    store.record([success(done, 1)])

    for task_id in (pending, running, done):
        store.forget_pending(task_id)

    assert store.read(pending) is None
    assert store.read(running).state == STARTED
    assert store.read(done).state == SUCCESS


def test_wait_returns_as_soon_as_another_connection_commits_the_outcome(database_url, store):
    task_id = published(store)
    go = threading.Event()
    failed: list[BaseException] = []

    def worker() -> None:
        other = ResultStore(database_url)  # its own connections, as another process would have
        try:
            go.wait(10)
            other.claim([started(task_id)])
            other.record([success(task_id, 42)])
        except BaseException as exc:
            failed.append(exc)
        finally:
            other.close()

    thread = threading.Thread(target=worker)
    thread.start()
    go.set()
    began = time.monotonic()
    row = store.wait(task_id, timeout=30)
    waited = time.monotonic() - began
    thread.join(10)

    assert not failed
    assert row is not None and (row.state, row.result) == (SUCCESS, 42)
    assert waited < 15, "wait() ran out instead of seeing the commit"


def test_wait_returns_the_unfinished_row_when_its_timeout_runs_out(store):
    task_id = published(store)
    store.claim([started(task_id)])

    assert store.wait(task_id, timeout=0.2).state == STARTED
    assert store.wait(new_id(), timeout=0.1) is None


def test_get_returns_the_value_of_a_successful_task(store):
    task_id = published(store)
    store.record([success(task_id, [2, 3])])
    handle = AsyncResult(task_id, store)

    assert handle.get(timeout=5) == [2, 3]
    assert handle.ready() and handle.successful() and not handle.failed()


def test_get_raises_task_failed_with_the_remote_error(store):
    task_id = published(store)
    store.record([failure(task_id)])
    handle = AsyncResult(task_id, store)

    with pytest.raises(arame.TaskFailed) as caught:
        handle.get(timeout=5)

    error = caught.value
    assert (error.task_id, error.remote_type, error.remote_message) == (task_id, "ValueError", "no luck")
    assert error.remote_traceback == TRACEBACK
    assert handle.failed() and handle.traceback == TRACEBACK and handle.result is None


def test_get_raises_timeout_error_when_the_task_does_not_finish(store):
    handle = AsyncResult(published(store), store)

    with pytest.raises(arame.TimeoutError):
        handle.get(timeout=0.2)
    with pytest.raises(TimeoutError):  # the builtin one catches it too
        AsyncResult(new_id(), store).get(timeout=0.1)


def test_outcomes_recorded_from_many_threads_are_all_stored(store):
    ids = [published(store) for _ in range(40)]
    failed: list[BaseException] = []

    def record(chunk: list[str]) -> None:
        try:
            for task_id in chunk:
                store.claim([started(task_id)])
                store.record([success(task_id, task_id)])
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=record, args=(ids[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not failed
    assert store.counts() == {SUCCESS: 40}
    assert all(store.read(task_id).result == task_id for task_id in ids)


def test_every_query_reports_a_database_failure_as_result_store_error(database_url, store):
    task_id = published(store)
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {results_table.name}"))  # the database fails under the store
    finally:
        engine.dispose()

    with pytest.raises(arame.ResultStoreError):
        store.read(task_id)
    with pytest.raises(arame.ResultStoreError):
        store.add_pending(TaskMessage(id=new_id(), task="shop.add", queue=QUEUE))
    with pytest.raises(arame.ResultStoreError):
        store.counts()


def test_opening_a_new_sqlite_file_waits_for_another_writer_instead_of_failing(tmp_path):
    path = tmp_path / "results.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")  # another process is writing; the file is still in rollback mode
    release = threading.Timer(0.5, writer.execute, args=("ROLLBACK",))
    release.start()
    store = ResultStore(f"sqlite:///{path}")
    try:
        assert store.read(new_id()) is None  # every other statement waits up to the busy timeout
    finally:
        release.join()
        writer.close()
        store.close()


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://u:secret@127.0.0.1:1/test", "mysql+pymysql://u:secret@127.0.0.1:1/test"],
    ids=["postgres", "mysql"],
)
def test_an_unreachable_database_raises_result_store_error_without_the_password(url):
    store = ResultStore(url)
    try:
        with pytest.raises(arame.ResultStoreError) as caught:
            store.read(new_id())
        with pytest.raises(arame.ResultStoreError):
            store.add_pending(TaskMessage(id=new_id(), task="shop.add"))
    finally:
        store.close()

    assert "secret" not in str(caught.value)
    assert "secret" not in caught.value.url
    assert "127.0.0.1:1" in str(caught.value)
