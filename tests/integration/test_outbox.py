"""The outbox: tasks enqueued in the caller's transaction, on every database the results may live in.

The caller's own table and the task rows live in the results database; a task is published
after the caller's commit, never on a rollback, and a committed task whose publish did not
happen (broker down, process killed) is published by a running worker's relay.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import arame
from arame.relay import OutboxRelay
from arame.results.outbox_rows import OutboxRows
from arame.results.outbox_table import outbox
from tests.helpers import running
from tests.integration.conftest import RESULTS_DATABASES, _mysql_database, _postgres_schema, on_brokers

pytestmark = on_brokers(RESULTS_DATABASES)

#: A broker no one listens on: a publish there fails at once.
DEAD_BROKER = "redis://127.0.0.1:9/0"


@pytest.fixture
def orders(results_url: str) -> Iterator[tuple[sa.Engine, sa.Table]]:
    """The caller's own table, in the results database."""
    yield from _orders_table(results_url)


@pytest.fixture
def own_results(results_url: str, tmp_path: Path) -> Iterator[str]:
    """A results database of this test's own: a relay publishes every due row it finds, and
    other tests' workers run relays on the shared databases."""
    if results_url.startswith("postgresql"):
        yield from _postgres_schema(tmp_path)
    elif results_url.startswith("mysql"):
        yield from _mysql_database(tmp_path)
    else:
        yield results_url  # a SQLite file of this test's


@pytest.fixture
def own_orders(own_results: str) -> Iterator[tuple[sa.Engine, sa.Table]]:
    """The caller's own table, in ``own_results``."""
    yield from _orders_table(own_results)


def _orders_table(url: str) -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = sa.create_engine(url)
    table = sa.Table(
        f"orders_{uuid.uuid4().hex[:12]}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item", sa.String(50)),
    )
    table.create(engine)
    yield engine, table
    table.drop(engine)
    engine.dispose()


def shop(broker: str, results_url: str, queue: str, table: sa.Table, engine: sa.Engine) -> arame.App:
    """An app whose task reads the order its caller saved in the same transaction."""
    app = arame.App("shop", broker=broker, results=results_url, default_queue=queue)

    @app.task(name="orders.confirm")
    def confirm(order_id: int) -> str:
        with engine.connect() as conn:
            item = conn.execute(sa.select(table.c.item).where(table.c.id == order_id)).scalar_one()
        return f"confirmed {item}"

    return app


def outbox_ids(app: arame.App) -> set[str]:
    with app.results.connect() as conn:
        return set(conn.execute(sa.select(outbox.c.id)).scalars())


def test_a_task_enqueued_in_a_transaction_runs_after_the_commit_and_finds_the_callers_rows(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    app = shop(broker_url, results_url, new_queue(), table, engine)
    with engine.begin() as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 1, "item": "tea"})
        handle = app.tasks["orders.confirm"].delay(1)
        assert app.AsyncResult(handle.id).state == "UNKNOWN"  # not committed: no one else sees it
    with running(app.worker(concurrency=1)):
        assert handle.get(timeout=20) == "confirmed tea"
    assert handle.id not in outbox_ids(app)
    app.close()


def test_a_rollback_leaves_no_row_and_publishes_nothing(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    app = shop(broker_url, results_url, new_queue(), table, engine)
    with pytest.raises(RuntimeError), engine.begin() as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 2, "item": "cake"})
        handle = app.tasks["orders.confirm"].delay(2)
        raise RuntimeError("the view failed")
    arame.testing.run_until_empty(app)
    assert app.AsyncResult(handle.id).state == "UNKNOWN"
    assert handle.id not in outbox_ids(app)
    app.close()


def test_a_session_publishes_what_its_savepoints_kept(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    app = shop(broker_url, results_url, new_queue(), table, engine)
    confirm = app.tasks["orders.confirm"]
    with Session(engine) as session, app.transaction(session):
        session.execute(table.insert(), {"id": 3, "item": "jam"})
        kept = confirm.delay(3)
        savepoint = session.begin_nested()
        dropped = confirm.delay(3)
        savepoint.rollback()
        session.commit()
    with running(app.worker(concurrency=1)):
        assert kept.get(timeout=20) == "confirmed jam"
    assert app.AsyncResult(dropped.id).state == "UNKNOWN"
    app.close()


def test_a_connection_on_another_database_is_refused(tmp_path: Path) -> None:
    app = arame.App(broker="memory://", results=f"sqlite:///{tmp_path}/results.db")
    other = sa.create_engine(f"sqlite:///{tmp_path}/other.db")
    with other.connect() as conn, pytest.raises(arame.ConfigurationError, match="results database"):
        app.transaction(conn).__enter__()
    other.dispose()
    app.close()


def test_a_task_committed_while_the_broker_is_down_runs_once_the_relay_reaches_the_broker(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    queue = new_queue()
    caller = shop(DEAD_BROKER, results_url, queue, table, engine)
    with engine.begin() as conn, caller.transaction(conn):  # the delay() itself must not fail
        conn.execute(table.insert(), {"id": 4, "item": "soup"})
        handle = caller.tasks["orders.confirm"].delay(4)
    assert handle.state == "PENDING"
    assert handle.id in outbox_ids(caller)
    worker_app = shop(broker_url, results_url, queue, table, engine)
    started = time.monotonic()
    with running(worker_app.worker(concurrency=1)):
        assert worker_app.AsyncResult(handle.id).get(timeout=20) == "confirmed soup"
    assert time.monotonic() - started < 10
    assert handle.id not in outbox_ids(worker_app)
    caller.close()
    worker_app.close()


KILLED_AFTER_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    import sqlalchemy as sa
    import arame

    broker, results, queue, table_name = sys.argv[1:5]
    app = arame.App("shop", broker=broker, results=results, default_queue=queue)
    confirm = app.task(name="orders.confirm")(lambda order_id: None)
    # Die between the commit and the publish, as a process killed at that moment would.
    app.producer.publish_many = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    engine = sa.create_engine(results)
    table = sa.Table(table_name, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 5, "item": "bread"})
        print(confirm.delay(5).id, flush=True)
    """
)


def test_a_task_whose_publisher_is_killed_after_the_commit_runs_once(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    queue = new_queue()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COMMIT, broker_url, results_url, queue, table.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    task_id = done.stdout.strip()
    app = shop(broker_url, results_url, queue, table, engine)
    with running(app.worker(concurrency=1)):
        assert app.AsyncResult(task_id).get(timeout=20) == "confirmed bread"
    assert task_id not in outbox_ids(app)
    app.close()


def test_two_relays_publish_each_row_once(
    broker_url: str, own_results: str, new_queue: Callable[[], str], own_orders: tuple[sa.Engine, sa.Table]
) -> None:
    results_url = own_results
    engine, table = own_orders
    queue = new_queue()
    caller = shop(DEAD_BROKER, results_url, queue, table, engine)
    confirm = caller.tasks["orders.confirm"]
    with engine.begin() as conn, caller.transaction(conn):
        handles = confirm.map((i,) for i in range(150))
    OutboxRows(caller.results).release([h.id for h in handles])  # their publisher is gone
    relay_apps = [shop(broker_url, results_url, queue, table, engine) for _ in range(2)]
    assert OutboxRelay(relay_apps[0], ["another-apps-queue"]).relay() == 0  # not its rows
    relays = [OutboxRelay(app, [queue]) for app in relay_apps]
    counts: list[int] = []
    threads = [threading.Thread(target=lambda r=relay: counts.append(r.relay())) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(counts) == 150
    assert not outbox_ids(caller) & {h.id for h in handles}
    for app in [caller, *relay_apps]:
        app.close()


def test_the_same_task_id_enqueued_twice_in_a_transaction_is_one_task_as_outside_one(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    app = shop(broker_url, results_url, new_queue(), table, engine)
    confirm, task_id = app.tasks["orders.confirm"], uuid.uuid4().hex
    with engine.begin() as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 6, "item": "rice"})
        confirm.apply_async((6,), task_id=task_id)
        confirm.apply_async((6,), task_id=task_id)  # a retried request, say
    with running(app.worker(concurrency=1)):
        assert app.AsyncResult(task_id).get(timeout=20) == "confirmed rice"
    assert task_id not in outbox_ids(app)
    app.close()


def test_workflows_in_a_transaction_are_enqueued_whole_on_a_commit_and_not_at_all_on_a_rollback(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    app = shop(broker_url, results_url, new_queue(), table, engine)
    confirm = app.tasks["orders.confirm"]
    shout = app.task(name="orders.shout")(lambda text: text.upper())
    joined = app.task(name="orders.joined")(lambda texts: " and ".join(sorted(texts)))
    with pytest.raises(RuntimeError), engine.begin() as conn, app.transaction(conn):
        dropped = [
            (confirm.s(8) | shout.s())(),
            *arame.group(confirm.s(8), confirm.s(8))().results,
            arame.chord([confirm.s(8)], joined.s())(),
        ]
        raise RuntimeError("the view failed")
    with engine.begin() as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 8, "item": "pie"})
        chained = (confirm.s(8) | shout.s())()
        chorded = arame.chord([confirm.s(8), confirm.s(8)], joined.s())()
    with running(app.worker(concurrency=2)):
        assert chained.get(timeout=20) == "CONFIRMED PIE"
        assert chorded.get(timeout=20) == "confirmed pie and confirmed pie"
    assert [handle.state for handle in dropped] == ["UNKNOWN"] * 4
    app.close()


def test_a_connection_in_autocommit_mode_publishes_each_task_at_once(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    app = shop(broker_url, results_url, new_queue(), table, engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 10, "item": "nuts"})  # committed at once
        handle = app.tasks["orders.confirm"].delay(10)
        assert handle.id not in outbox_ids(app)  # so is the task, and published: no relay to wait for
    with running(app.worker(concurrency=1)):
        assert handle.get(timeout=20) == "confirmed nuts"
    app.close()


def test_a_task_too_large_for_the_broker_is_refused_at_delay_and_never_blocks_the_relay(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    queue = new_queue()
    caller = arame.App(
        "shop", broker=DEAD_BROKER, results=results_url, default_queue=queue, max_message_size=3000
    )
    confirm = caller.task(name="orders.confirm")(lambda order_id: None)
    with engine.begin() as conn, caller.transaction(conn):
        with pytest.raises(arame.PublishError, match="max_message_size"):
            confirm.delay("x" * 4000)  # as outside a transaction: refused at once, nothing written
        too_large_for_workers = confirm.delay("y" * 2000)  # a worker refuses more than 1,000 bytes
        handles = [confirm.delay(12) for _ in range(3)]
    OutboxRows(caller.results).release([h.id for h in [too_large_for_workers, *handles]])
    worker_app = shop(broker_url, results_url, queue, table, engine)
    worker_app.max_message_size = 1000
    with engine.begin() as conn:
        conn.execute(table.insert(), {"id": 12, "item": "oats"})
    with running(worker_app.worker(concurrency=1)):
        for handle in handles:  # published although a row before them cannot be
            assert worker_app.AsyncResult(handle.id).get(timeout=20) == "confirmed oats"
        too_large = worker_app.AsyncResult(too_large_for_workers.id)
        too_large.get(timeout=20, propagate=False)
    assert too_large.state == arame.FAILURE and "max_message_size" in str(too_large.info)
    assert not outbox_ids(caller) & {h.id for h in [too_large_for_workers, *handles]}
    caller.close()
    worker_app.close()


def test_a_dedup_key_taken_in_a_transaction_is_taken_with_it_and_freed_by_its_rollback(
    broker_url: str, results_url: str, new_queue: Callable[[], str], orders: tuple[sa.Engine, sa.Table]
) -> None:
    engine, table = orders
    app = shop(broker_url, results_url, new_queue(), table, engine)
    confirm, key = app.tasks["orders.confirm"], f"order-9-{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError), engine.begin() as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 9, "item": "figs"})  # SQLite: this transaction writes
        dropped = confirm.apply_async((9,), dedup_key=key, dedup_for=60)
        raise RuntimeError("the view failed")
    with engine.begin() as conn, app.transaction(conn):
        conn.execute(table.insert(), {"id": 9, "item": "figs"})
        first = confirm.apply_async((9,), dedup_key=key, dedup_for=60)
        again = confirm.apply_async((9,), dedup_key=key, dedup_for=60)
    assert again.id == first.id != dropped.id  # the rollback freed the key
    with running(app.worker(concurrency=1)):
        assert first.get(timeout=20) == "confirmed figs"
    assert app.AsyncResult(dropped.id).state == "UNKNOWN"  # and published nothing
    app.close()
