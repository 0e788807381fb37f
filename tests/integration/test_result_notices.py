"""PostgreSQL: result waits are woken by the outcome's commit (LISTEN/NOTIFY), not by polling."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from arame.message import TaskMessage
from arame.results import ResultStore
from arame.results import result_reads as reads
from arame.results.notices import CHANNEL
from arame.states import SUCCESS, Outcome, Started
from tests.helpers import wait_until

pytestmark = pytest.mark.postgres

DSN = "postgresql://127.0.0.1/test"


@pytest.fixture
def store() -> Iterator[ResultStore]:
    schema = f"arame_test_{uuid.uuid4().hex}"
    admin = sa.create_engine("postgresql+psycopg://127.0.0.1/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    store = ResultStore(f"postgresql+psycopg://127.0.0.1/test?options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def publish(store: ResultStore, task_id: str) -> None:
    store.add_pending(TaskMessage(id=task_id, task="shop.add", queue="notices"))


def finish(store: ResultStore, task_id: str, result: object = 42) -> None:
    now = time.time()
    store.claim([Started(task_id, 1, "host:1", now, "shop.add", "notices")])
    outcome = Outcome(
        task_id, "shop.add", "notices", SUCCESS, result_json=json.dumps(result), worker="host:1",
        attempts=1, started_at=now, finished_at=now,
    )  # fmt: skip
    store.record([outcome])


def test_a_wait_returns_at_the_outcome_commit_long_before_its_next_poll(
    store: ResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "NOTIFIED_POLL", 60.0)  # only a notification can end the wait early
    task_id = uuid.uuid4().hex
    publish(store, task_id)
    other = ResultStore(store.url)  # the worker's own connections, as another process has
    timer = threading.Timer(0.3, finish, (other, task_id))
    timer.start()
    try:
        began = time.monotonic()
        row = store.wait(task_id, timeout=30)
        waited = time.monotonic() - began
    finally:
        timer.join(10)
        other.close()
    assert row is not None and (row.state, row.result) == (SUCCESS, 42)
    assert waited < 10, f"the wait took {waited:.1f}s: it was not woken by the commit"


def test_a_batch_of_outcomes_notifies_every_id_it_finished_even_the_longest_ids(store: ResultStore) -> None:
    ids = [f"{i:03d}" + "x" * 252 for i in range(100)]  # 255 characters: many notifications
    for task_id in ids:
        publish(store, task_id)
    now = time.time()
    store.claim([Started(task_id, 1, "host:1", now, "shop.add", "notices") for task_id in ids])
    outcomes = [
        Outcome(task_id, "shop.add", "notices", SUCCESS, result_json="1", attempts=1, finished_at=now)
        for task_id in ids
    ]
    with psycopg.connect(DSN, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        store.record(outcomes)
        told: set[str] = set()
        for notify in listener.notifies(timeout=5):
            told |= set(notify.payload.split(" "))
            if told >= set(ids):
                break
    assert told >= set(ids)
    assert {store.state_of(task_id) for task_id in ids} == {SUCCESS}


@pytest.mark.parametrize("length", [10, 10_000], ids=["short", "long"])
def test_a_single_outcome_notifies_its_row_and_a_row_too_long_for_that_its_id(
    store: ResultStore, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    monkeypatch.setattr(reads, "NOTIFIED_POLL", 60.0)  # only a notification can end the wait early
    task_id, value = uuid.uuid4().hex, "v" * length
    publish(store, task_id)
    waited: list[object] = []
    waiter = threading.Thread(target=lambda: waited.append(store.wait(task_id, timeout=30)))
    other = ResultStore(store.url)  # the worker's own connections, as another process has
    with psycopg.connect(DSN, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        waiter.start()
        # The wait is registered (and reads the PENDING row next): the commit after it is heard.
        notices = store.notices
        assert notices is not None
        wait_until(lambda: task_id in notices._waiting, 10, "the wait is registered", interval=0.005)
        try:
            finish(other, task_id, value)
        finally:
            other.close()
        # The channel is shared with every other test's workers: this task's notification only.
        payloads: list[str] = []
        for notify in listener.notifies(timeout=5):
            if task_id in notify.payload:
                payloads.append(notify.payload)
                break
    waiter.join(10)

    assert payloads, "no notification named the task"
    if length < 7000:
        carried = json.loads(payloads[0])
        assert (carried["id"], carried["state"], json.loads(carried["result"])) == (task_id, SUCCESS, value)
        assert "message" not in carried  # the message (its arguments) stays in the table
    else:
        assert payloads[0] == task_id
    [row] = waited
    assert row is not None and (row.state, row.result) == (SUCCESS, value)
    read = store.read(task_id)
    assert read is not None
    assert (row.attempts, row.worker, row.started_at, row.finished_at, row.created_at) == (
        read.attempts,
        read.worker,
        read.started_at,
        read.finished_at,
        read.created_at,
    )
