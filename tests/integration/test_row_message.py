"""The results row carries the task's message, and an older table gains the column in place."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

import arame
import arame.testing
from arame.database.migrate import add_missing_columns
from arame.database.schema import LongText, widen_mysql_text
from arame.results import ResultStore
from arame.results.results_table import results as results_table
from tests.integration.conftest import MYSQL_URL, POSTGRES_URL


@pytest.fixture
def app(broker_url: str, results_url: str, new_queue: Callable[[], str]) -> Iterator[arame.App]:
    app = arame.App("rows", broker=broker_url, results=results_url, default_queue=new_queue())
    yield app
    app.close()


def test_the_pending_row_holds_the_message_that_was_published(app: arame.App) -> None:
    @app.task(name="rows.greet", queue=app.default_queue, priority=7)
    def greet(name: str, punctuation: str = ".") -> str:
        return f"hello {name}{punctuation}"

    sent = greet.apply_async(("ada",), {"punctuation": "!"}, countdown=60, expires=3600)
    row = sent.row

    assert row is not None and row.message is not None
    assert (row.message.id, row.message.task, row.message.queue) == (sent.id, "rows.greet", app.default_queue)
    assert (row.args, row.kwargs) == (("ada",), {"punctuation": "!"})
    assert row.message.priority == 7 and row.message.eta is not None and row.message.expires is not None


def test_each_row_of_a_map_holds_its_own_arguments(app: arame.App) -> None:
    @app.task(name="rows.double", queue=app.default_queue)
    def double(x: int) -> int:
        return 2 * x

    sent = double.map([(n,) for n in range(5)])

    assert [handle.row.args for handle in sent if handle.row] == [(n,) for n in range(5)]


def test_a_row_whose_message_cannot_be_decoded_reads_no_message(app: arame.App) -> None:
    @app.task(name="rows.noop", queue=app.default_queue)
    def noop() -> None: ...

    sent = noop.delay()
    with app.results.transaction() as conn:
        conn.execute(results_table.update().where(results_table.c.id == sent.id).values(message="{not json"))
    row = sent.row

    assert row is not None and row.message is None
    assert (row.args, row.kwargs, row.state) == ((), {}, arame.PENDING)


DATABASES = [
    pytest.param("sqlite:///{tmp}/old.db", id="sqlite"),
    pytest.param(POSTGRES_URL, id="postgres", marks=pytest.mark.postgres),
    pytest.param(MYSQL_URL, id="mysql", marks=pytest.mark.mysql),
]


@pytest.mark.parametrize("column", ["message", "trace_id"])
@pytest.mark.parametrize("url", DATABASES)
def test_a_table_without_a_newer_column_gains_it_once_with_several_openers(
    url: str, column: str, tmp_path
) -> None:
    url = url.format(tmp=tmp_path)
    name = f"arame_results_old_{uuid.uuid4().hex[:12]}"
    old = sa.Table(name, sa.MetaData(), *(c._copy() for c in results_table.columns if c.name != column))
    new = sa.Table(name, sa.MetaData(), *(c._copy() for c in results_table.columns))
    engine = sa.create_engine(url)
    old.create(engine)
    try:
        added: list[list[str]] = []
        openers = [
            threading.Thread(target=lambda: added.append(add_missing_columns(engine, new))) for _ in range(4)
        ]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()

        assert sorted(map(len, added)) == [0, 0, 0, 1]
        assert column in {c["name"] for c in sa.inspect(engine).get_columns(name)}
    finally:
        new.drop(engine)
        engine.dispose()


def test_a_store_opened_on_an_old_sqlite_table_adds_the_column_and_reads_old_rows(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    old = sa.Table(
        results_table.name, sa.MetaData(), *(c._copy() for c in results_table.columns if c.name != "message")
    )
    engine = sa.create_engine(url)
    old.create(engine)
    with engine.begin() as conn:
        conn.execute(
            old.insert().values(
                id="old-1", task_name="t", queue="q", state="SUCCESS", result="1", attempts=1,
                created_at=sa.func.current_timestamp(),
            )
        )  # fmt: skip
    engine.dispose()
    store = ResultStore(url)
    try:
        row = store.read("old-1")
        assert row is not None and row.message is None and row.result == 1 and row.args == ()
    finally:
        store.close()


def test_a_message_and_a_result_larger_than_64_kib_round_trip(app: arame.App) -> None:
    """MySQL's TEXT holds 64 KiB: the queue's payload and the row's message and result need more."""

    @app.task(name="rows.echo", queue=app.default_queue)
    def echo(text: str) -> str:
        return text

    text = "x" * 300_000
    sent = echo.delay(text)
    arame.testing.run_until_empty(app, [app.default_queue])

    assert sent.get(timeout=10) == text
    assert sent.row is not None and sent.row.args == (text,)


@pytest.mark.mysql
def test_an_older_mysql_table_with_text_columns_is_widened_in_place() -> None:
    pytest.importorskip("pymysql")
    name = f"arame_widen_{uuid.uuid4().hex[:8]}"
    table = sa.Table(
        name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", LongText)
    )
    engine = sa.create_engine(MYSQL_URL)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, body TEXT)")
        assert widen_mysql_text(engine, table) == ["body"]
        assert widen_mysql_text(engine, table) == []
        with engine.begin() as conn:
            conn.execute(table.insert().values(id=1, body="y" * 100_000))
            assert len(conn.execute(sa.select(table.c.body)).scalar_one()) == 100_000
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        engine.dispose()
