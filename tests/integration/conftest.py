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
from _pytest.mark import ParameterSet

from arame.transport import Publisher, parse_broker_url
from tests.cleanup import delete_queues, delete_result_rows, fresh_queue_name, remove_queues
from tests.helpers import Inbox, inboxes
from tests.integration.canvas_flow import Flow

# Suites import the cleanup from here too.
__all__ = ["delete_queues", "delete_result_rows"]

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

#: For a feature whose broker is only a carrier: memory:// in-process, SQLite across processes.
FEATURE_BROKERS = [p for p in BROKERS if p.id in {"memory", "sqlite"}]
#: For a feature whose state lives in the results database: one of each database it may live in
#: (Redis and RabbitMQ keep their results in a SQLite file, as memory:// does; the transport
#: contract, the result-store contract and the fault suites keep every broker).
RESULTS_DATABASES = [p for p in BROKERS if p.id in {"memory", "sqlite", "postgres", "mysql"}]


def on_brokers(params: list[ParameterSet]) -> pytest.MarkDecorator:
    """Run a module's tests on these brokers instead of every broker (``pytestmark = ...``).

    Only the tests that use ``broker_url`` and choose no brokers of their own are parametrized
    (see ``pytest_generate_tests``): a module may also hold tests of one server or none.
    """
    return pytest.mark.brokers(params)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "brokers(params): the brokers a module's tests run on (on_brokers)")


@pytest.hookimpl(tryfirst=True)  # before pytest reads the parametrize marks
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("brokers")
    if marker is None or "broker_url" not in metafunc.fixturenames:
        return
    if any("broker_url" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize")):
        return  # the test names its brokers itself
    # A mark, as a module's pytestmark would be: it takes the place of the fixture's brokers.
    metafunc.definition.add_marker(pytest.mark.parametrize("broker_url", marker.args[0], indirect=True))


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


def only_on(broker: str, results: str, name: str) -> pytest.MarkDecorator:
    """Run a module's tests on one broker and results database instead of every broker."""
    return pytest.mark.parametrize(
        ("broker_url", "results_url"), [pytest.param(broker, results, id=name)], indirect=True
    )


@pytest.fixture
def results_url(request: pytest.FixtureRequest, broker_url: str, tmp_path: Path) -> str:
    """The results database that goes with ``broker_url`` (or the one ``only_on`` names)."""
    if hasattr(request, "param"):
        return str(request.param)
    scheme = broker_url.partition("://")[0]
    return _SAME_DATABASE.get(scheme, "sqlite:///{tmp}/results.db").format(tmp=tmp_path)


@pytest.fixture
def new_queue(broker_url: str, results_url: str) -> Iterator[Callable[[], str]]:
    """Make fresh queue names; at teardown, delete those queues and the result rows filed under them."""
    created: list[str] = []

    def new() -> str:
        created.append(fresh_queue_name())
        return created[-1]

    yield new
    if created:
        remove_queues(broker_url, results_url, created)


@pytest.fixture
def queue(new_queue: Callable[[], str]) -> str:
    """A fresh queue on ``broker_url``, removed with its rows at teardown."""
    return new_queue()


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
