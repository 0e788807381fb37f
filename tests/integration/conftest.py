"""Brokers and databases for the integration suites, and cleanup of what the tests create.

Every test gets queue names of its own (uuid), so runs never collide on the shared servers;
the queues, and the result rows filed under them, are removed when the test ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from arame.results.limit_tables import fair_queues
from arame.results.table import results as results_table
from arame.transport import Publisher, parse_broker_url
from arame.transport.connection import connect, kombu_queue
from arame.transport.subscriber import dead_letter_queue
from tests.helpers import Inbox, inboxes
from tests.integration.canvas_flow import Flow

POSTGRES_URL = "postgresql+psycopg://127.0.0.1/test"
MYSQL_URL = "mysql+pymysql://root@127.0.0.1/test"

#: Every broker arame supports; ``{tmp}`` is replaced by the test's tmp_path.
BROKERS = [
    pytest.param("memory://", id="memory"),
    pytest.param("redis://127.0.0.1:6379/15", id="redis", marks=pytest.mark.redis),
    pytest.param("amqp://guest:guest@127.0.0.1:5672//", id="amqp", marks=pytest.mark.rabbitmq),
    pytest.param("sqlite:///{tmp}/broker.db", id="sqlite"),
    pytest.param("postgresql://127.0.0.1/test", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql://root@127.0.0.1/test", id="mysql", marks=pytest.mark.mysql),
]

#: A SQL broker keeps its results in the same database; the others use a SQLite file.
_SAME_DATABASE = {"sqlite": "sqlite:///{tmp}/broker.db", "postgresql": POSTGRES_URL, "mysql": MYSQL_URL}


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A broker URL, once per supported transport."""
    return str(request.param).format(tmp=tmp_path)


@pytest.fixture
def broker_kind(broker_url: str) -> str:
    """``memory``, ``redis``, ``amqp``, ``sqlite``, ``postgresql`` or ``mysql``."""
    return broker_url.partition(":")[0]


@pytest.fixture
def results_url(broker_url: str, tmp_path: Path) -> str:
    """The results database that goes with ``broker_url``."""
    scheme = broker_url.partition("://")[0]
    return _SAME_DATABASE.get(scheme, "sqlite:///{tmp}/results.db").format(tmp=tmp_path)


@pytest.fixture
def new_queue(broker_url: str, results_url: str) -> Iterator[Callable[[], str]]:
    """Make fresh queue names; at teardown, delete those queues and the result rows filed under them."""
    created: list[str] = []

    def new() -> str:
        created.append(f"arame-test-{uuid.uuid4().hex}")
        return created[-1]

    yield new
    if created:
        created += fair_subqueues(results_url, created)
        delete_queues(broker_url, created)
        delete_result_rows(results_url, created)


def fair_subqueues(results_url: str, queues: list[str]) -> list[str]:
    """The fair sub-queues of ``queues`` ever registered (their registrations are deleted)."""
    engine = sa.create_engine(results_url)
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table(fair_queues.name):
                return []
            subs = [
                row.queue
                for row in conn.execute(
                    sa.select(fair_queues.c.queue).where(fair_queues.c.parent.in_(queues))
                )
            ]
            conn.execute(fair_queues.delete().where(fair_queues.c.parent.in_(queues)))
            return subs
    finally:
        engine.dispose()


def delete_queues(broker_url: str, names: list[str]) -> None:
    """Empty and delete queues and their dead-letter queues.

    A purge first: Kombu's virtual transports delete only the queues bound to an exchange.
    """
    spec = parse_broker_url(broker_url)
    connection = connect(spec)
    try:
        channel = connection.default_channel
        for name in [*names, *map(dead_letter_queue, names)]:
            queue = kombu_queue(spec, name)(channel)
            queue.declare()
            queue.purge()
            queue.delete()
    finally:
        connection.release()


def delete_result_rows(results_url: str, queues: list[str]) -> None:
    """Delete the rows of tasks published to ``queues``, if the results table exists."""
    engine = sa.create_engine(results_url)
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(results_table.name):
                conn.execute(results_table.delete().where(results_table.c.queue.in_(queues)))
    finally:
        engine.dispose()


@pytest.fixture
def publisher(broker_url: str) -> Iterator[Publisher]:
    """A publisher to ``broker_url``, closed afterwards."""
    publisher = Publisher(parse_broker_url(broker_url))
    yield publisher
    publisher.close()


@pytest.fixture
def inbox(broker_url: str, queue: str) -> Iterator[Callable[..., Inbox]]:
    """Open inboxes on ``queue`` (``inbox(prefetch=10)``); those still open are closed at teardown."""

    def make(prefetch: int = 10) -> Inbox:
        return Inbox(broker_url, [queue], prefetch)

    with inboxes(make) as open_inbox:
        yield open_inbox


@pytest.fixture
def flow(broker_url: str, results_url: str, new_queue: Callable[[], str]) -> Iterator[Flow]:
    """The workflow suites' app on a fresh queue (see canvas_flow.py)."""
    flow = Flow(broker_url, results_url, new_queue())
    yield flow
    flow.app.close()


@pytest.fixture
def private_flow(broker_url: str, tmp_path: Path, new_queue: Callable[[], str]) -> Iterator[Flow]:
    """A flow whose results table is its own: reconcile reads every PENDING row of the table."""
    flow = Flow(broker_url, f"sqlite:///{tmp_path}/own-results.db", new_queue())
    yield flow
    flow.app.close()


def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path}/results.db"


def _namespace(admin_url: str, kind: str, url: str, drop: str = "") -> Iterator[str]:
    """Create a ``kind`` (SCHEMA, DATABASE) of a fresh name; yield ``url`` naming it; drop it."""
    name = f"arame_test_{uuid.uuid4().hex}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE {kind} {name}"))
        yield url.format(name=name)
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP {kind} {name}{drop}"))
    finally:
        admin.dispose()


def _postgres_schema(tmp_path: Path) -> Iterator[str]:
    yield from _namespace(
        POSTGRES_URL, "SCHEMA", POSTGRES_URL + "?options=-csearch_path%3D{name}", " CASCADE"
    )


def _mysql_database(tmp_path: Path) -> Iterator[str]:
    yield from _namespace(MYSQL_URL, "DATABASE", "mysql+pymysql://root@127.0.0.1/{name}")


@pytest.fixture(
    params=[
        pytest.param(_sqlite, id="sqlite"),
        pytest.param(_postgres_schema, id="postgres", marks=pytest.mark.postgres),
        pytest.param(_mysql_database, id="mysql", marks=pytest.mark.mysql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database namespace, dropped after the test."""
    yield from request.param(tmp_path)
