"""Fault-suite fixtures: one stack per transport, worker processes that never outlive a test.

Each test gets its own queue (a uuid), its own folder and, on SQLite, its own database files;
at teardown its worker process groups are SIGKILLed and its queues and result rows deleted.
The shared servers are only ever read and written through their normal protocols: whatever
must die (a results database, a broker connection) is a private server or a proxy of our own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults.helpers import FIGURES, Stack, Workers
from tests.faults.proxy import TcpProxy

REDIS_URL = "redis://127.0.0.1:6379/14"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
MYSQL_URL = "mysql://root@127.0.0.1:3306/test"

#: Every transport that crosses processes. A PostgreSQL broker keeps its results in the same
#: database (as a PostgreSQL user would); the others keep them in a SQLite file of the test's.
TRANSPORTS = [
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("rabbitmq", id="rabbitmq", marks=pytest.mark.rabbitmq),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    pytest.param("sqlite", id="sqlite"),
]
#: The transports a TCP proxy can stand in front of (all but the SQLite file).
NETWORKED = TRANSPORTS[:4]
#: The transports with a lease (a dead worker's message comes back only once it runs out).
LEASED = [TRANSPORTS[0], *TRANSPORTS[2:]]


def urls_for(kind: str, folder: Path) -> tuple[str, str]:
    """(broker URL, results URL) of a transport."""
    results = f"sqlite:///{folder}/results.db"
    if kind == "redis":
        return REDIS_URL, results
    if kind == "rabbitmq":
        return AMQP_URL, results
    if kind == "postgres":
        return POSTGRES_URL, "postgresql+psycopg://127.0.0.1:5432/test"
    if kind == "mysql":
        return MYSQL_URL, results
    return f"sqlite:///{folder}/broker.db", results


def make_stack(kind: str, folder: Path) -> Stack:
    broker_url, results_url = urls_for(kind, folder)
    return Stack(kind, broker_url, results_url, folder)


@pytest.fixture(params=TRANSPORTS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A broker and results database, once per transport, with a queue of this test's own."""
    built = make_stack(request.param, tmp_path)
    yield built
    built.close()


@pytest.fixture
def workers(stack: Stack) -> Iterator[Workers]:
    """Starts ``arame worker`` processes; kills every one still alive (and its children) at the end."""
    started = Workers(stack)
    yield started
    started.cleanup()


@pytest.fixture
def proxies() -> Iterator[list[TcpProxy]]:
    """TCP proxies made during a test (see ``proxy_for``), stopped at its end."""
    made: list[TcpProxy] = []
    yield made
    for proxy in made:
        proxy.stop()


def proxy_for(stack: Stack, proxies: list[TcpProxy]) -> TcpProxy:
    """A TCP proxy in front of the stack's (shared) broker server."""
    parts = urlsplit(stack.broker_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 0)).start()
    proxies.append(proxy)
    return proxy


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault-suite figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
