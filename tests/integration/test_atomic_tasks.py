"""Atomic tasks, on each database the results may live in: the task's writes and its outcome row
commit together."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

import arame
from tests.helpers import running
from tests.integration.conftest import RESULTS_DATABASES, on_brokers

pytestmark = on_brokers(RESULTS_DATABASES)


@pytest.fixture
def notes(results_url: str) -> Iterator[sa.Table]:
    """A table of the user's own in the results database."""
    engine = sa.create_engine(results_url)
    table = sa.Table(f"notes_{uuid.uuid4().hex[:12]}", sa.MetaData(), sa.Column("text", sa.String(50)))
    table.create(engine)
    yield table
    table.drop(engine)
    engine.dispose()


def written(app: arame.App, table: sa.Table) -> list[str]:
    with app.results.connect() as conn:
        return sorted(conn.execute(sa.select(table.c.text)).scalars())


def notebook(broker_url: str, results_url: str, queue: str, table: sa.Table) -> arame.App:
    app = arame.App("notes", broker=broker_url, results=results_url, default_queue=queue)

    @app.task(name="notes.write", atomic=True)
    def write(text: str) -> str:
        arame.connection().execute(table.insert(), {"text": text})
        return text

    @app.task(name="notes.write_then_fail", atomic=True, max_retries=0)
    def write_then_fail(text: str) -> None:
        arame.connection().execute(table.insert(), {"text": text})
        raise ValueError("after the write")

    @app.task(name="notes.write_then_retry", atomic=True, bind=True, retry_delay=0.01, retry_jitter=False)
    def write_then_retry(self: arame.Task, text: str) -> str:  # type: ignore[type-arg]
        arame.connection().execute(table.insert(), {"text": f"{text} attempt {self.request.retries}"})
        if self.request.retries == 0:
            raise self.retry()
        return text

    @app.task(name="notes.total")
    def total(values: list[str]) -> str:
        return "+".join(sorted(values))

    return app


def test_an_atomic_tasks_writes_commit_with_its_success_and_a_failure_undoes_them(
    broker_url: str, results_url: str, new_queue: Callable[[], str], notes: sa.Table
) -> None:
    app = notebook(broker_url, results_url, new_queue(), notes)
    kept = app.tasks["notes.write"].delay("kept")
    failed = app.tasks["notes.write_then_fail"].delay("undone")
    retried = app.tasks["notes.write_then_retry"].delay("retried")
    with running(app.worker(concurrency=2)):
        assert kept.get(timeout=20) == "kept"
        assert retried.get(timeout=20) == "retried"
        failed.get(timeout=20, propagate=False)
    assert failed.state == arame.FAILURE
    assert written(app, notes) == ["kept", "retried attempt 1"]  # the first attempt's write was undone
    app.close()


def test_an_atomic_chord_member_completes_its_join(
    broker_url: str, results_url: str, new_queue: Callable[[], str], notes: sa.Table
) -> None:
    app = notebook(broker_url, results_url, new_queue(), notes)
    write, total = app.tasks["notes.write"], app.tasks["notes.total"]
    handle = arame.chord(arame.group(write.s(text) for text in ("a", "b", "c")), total.s())()
    with running(app.worker(concurrency=2)):
        assert handle.get(timeout=30) == "a+b+c"
    assert written(app, notes) == ["a", "b", "c"]
    app.close()


def test_connection_outside_an_atomic_task_says_where_it_works() -> None:
    with pytest.raises(RuntimeError, match=r"atomic=True"):
        arame.connection()


def test_an_async_task_cannot_be_atomic() -> None:
    app = arame.App(broker="memory://", results="sqlite://")
    with pytest.raises(arame.ConfigurationError, match="async def task cannot be atomic"):

        @app.task(atomic=True)
        async def write() -> None: ...


def test_an_atomic_task_that_swallows_an_sql_error_ends_once_instead_of_running_again(
    broker_url: str, results_url: str, new_queue: Callable[[], str], notes: sa.Table
) -> None:
    app = arame.App("notes", broker=broker_url, results=results_url, default_queue=new_queue())
    runs: list[int] = []

    @app.task(name="notes.swallow", atomic=True)
    def swallow() -> str:
        runs.append(1)
        conn = arame.connection()
        conn.execute(notes.insert(), {"text": "before"})
        with contextlib.suppress(sa.exc.DBAPIError):  # PostgreSQL aborts the transaction here
            conn.execute(sa.text(f"SELECT missing FROM {notes.name}"))
        return "returned"

    handle = swallow.delay()
    with running(app.worker(concurrency=1)):
        handle.get(timeout=20, propagate=False)
    assert len(runs) == 1
    if handle.state == arame.FAILURE:  # PostgreSQL: the task's writes are undone, and it says why
        assert "transaction" in str(handle.info)
        assert written(app, notes) == []
    else:  # SQLite and MySQL keep a transaction going after a failed statement
        assert written(app, notes) == ["before"]
    app.close()


def test_update_state_inside_an_atomic_task_after_its_writes_does_not_wait_for_its_own_lock(
    broker_url: str, results_url: str, new_queue: Callable[[], str], notes: sa.Table
) -> None:
    app = arame.App("notes", broker=broker_url, results=results_url, default_queue=new_queue())

    @app.task(name="notes.progress", atomic=True, bind=True)
    def progress(self: arame.Task) -> float:  # type: ignore[type-arg]
        arame.connection().execute(notes.insert(), {"text": "written"})
        began = time.monotonic()
        assert self.update_state(state="PROGRESS", meta={"done": 1})
        return time.monotonic() - began

    handle = progress.delay()
    with running(app.worker(concurrency=1)):
        assert handle.get(timeout=60) < 5  # SQLite: its one write lock is the task's own
    assert written(app, notes) == ["written"]
    app.close()
