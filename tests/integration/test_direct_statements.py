"""PostgreSQL's per-task statements on driver connections (arame/results/driver_connections.py): the same rows
as SQLAlchemy's spelling of them, and a connection the server dropped is replaced."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import arame
from arame.consumers import outcomes
from arame.message import TaskMessage
from arame.results import ResultStore
from arame.results.results_table import results as results_table
from arame.results.rows import read_on
from arame.states import Started
from tests.integration.conftest import _postgres_schema

pytestmark = pytest.mark.postgres

QUEUE = "direct"


@pytest.fixture
def store(tmp_path) -> Iterator[ResultStore]:
    """A store in a PostgreSQL schema of its own (driver connections are PostgreSQL's)."""
    for url in _postgres_schema(tmp_path):
        store = ResultStore(url)
        yield store
        store.close()


def message() -> TaskMessage:
    trace = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}
    return TaskMessage(id=uuid.uuid4().hex, task="shop.add", args=(1, 2), queue=QUEUE, trace=trace)


def row_of(store: ResultStore, task_id: str) -> dict[str, object]:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(results_table).where(results_table.c.id == task_id)).mappings().one()
    return {key: value for key, value in row.items() if key != "id"}


def test_a_pending_row_written_as_sql_text_equals_the_one_sqlalchemy_writes(store):
    by_text = message()
    by_batch, by_sqlalchemy = (dataclasses.replace(by_text, id=uuid.uuid4().hex) for _ in range(2))
    body = by_text.to_body()

    store.add_pending(by_text, body)  # one message: the SQL text
    store.add_pending_many([by_batch], [body])  # a batch: the SQL text of many
    write = store.pending_writer([by_sqlalchemy], [body])  # SQLAlchemy's (in a caller's transaction)
    with store.transaction() as conn:
        write(conn)

    assert row_of(store, by_text.id) == row_of(store, by_batch.id) == row_of(store, by_sqlalchemy.id)


def test_a_claim_as_sql_text_equals_the_one_sqlalchemy_runs(store):
    at = time.time()
    first_message = message()
    twins = [first_message, dataclasses.replace(first_message, id=uuid.uuid4().hex)]
    store.add_pending_many(twins)
    ids = [twin.id for twin in twins]
    starts = [Started(task_id, 1, "host:1", at, "shop.add", QUEUE) for task_id in ids]

    assert store.claim(starts[:1]) == {ids[0]}  # the SQL text
    with store.transaction() as conn:
        assert store._claim_on(conn, starts[1:]) == {ids[1]}  # SQLAlchemy

    first, second = row_of(store, ids[0]), row_of(store, ids[1])
    assert {**first, "message": None} == {**second, "message": None}
    assert first["state"] == "STARTED"


def kill_store_connections(store: ResultStore) -> int:
    with store.engine.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND query LIKE 'INSERT INTO arame_results%'"
            )
        ).scalar_one()
        conn.commit()
    return int(killed)


def test_a_connection_the_server_dropped_while_idle_is_replaced_unseen(store, monkeypatch):
    store.add_pending(message())
    assert kill_store_connections(store) >= 1
    monkeypatch.setattr(
        "arame.results.driver_connections.IDLE_BEFORE_PING", 0.0
    )  # every idle one counts as stale

    again = message()
    store.add_pending(again)

    assert store.read(again.id).state == "PENDING"


def test_a_connection_dropped_while_in_use_fails_that_write_once_and_the_next_one_works(store):
    store.add_pending(message())
    assert kill_store_connections(store) >= 1

    lost = message()
    with pytest.raises(arame.ResultStoreError):
        store.add_pending(lost)
    store.add_pending(lost)

    assert store.read(lost.id).state == "PENDING"


def test_a_row_read_as_sql_text_equals_the_one_sqlalchemy_reads(store):
    published = message()
    store.add_pending(published)
    store.claim([Started(published.id, 1, "host:1", time.time(), "shop.add", QUEUE)])
    store.record([outcomes.succeeded(published, "host:1", time.time(), '{"sum": 3}')])

    with store.connect() as conn:
        through_sqlalchemy = read_on(conn, published.id)

    assert store.read(published.id) == through_sqlalchemy
    assert through_sqlalchemy.result == {"sum": 3}
    assert store.read(uuid.uuid4().hex) is None
