"""Shared by every test: services that may be absent, and a clean memory:// transport."""

from __future__ import annotations

import functools
import os
import socket
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from arame.current import registry
from arame.testing import reset_memory_transport

#: Marker name -> the (host, port) the server listens on.
SERVICES = {
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "postgres": ("127.0.0.1", 5432),
    "mysql": ("127.0.0.1", 3306),
}


@functools.cache
def service_answers(name: str) -> bool:
    """Whether the server behind marker ``name`` accepts a TCP connection within half a second."""
    try:
        socket.create_connection(SERVICES[name], timeout=0.5).close()
    except OSError:
        return False
    return True


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test whose server is down; fail it instead when ARAME_REQUIRE_SERVICES=1 (CI).

    Tests marked ``cluster`` start private clusters and take minutes: a laptop skips them with
    ARAME_SKIP_CLUSTERS=1; CI runs them.
    """
    if item.get_closest_marker("cluster") is not None and os.environ.get("ARAME_SKIP_CLUSTERS") == "1":
        pytest.skip("ARAME_SKIP_CLUSTERS=1")
    for name, (host, port) in SERVICES.items():
        if item.get_closest_marker(name) is None or service_answers(name):
            continue
        message = f"the {name} server at {host}:{port} does not answer"
        if os.environ.get("ARAME_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message} (ARAME_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(message)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="only the tests that need no server nor worker process: unit, CLI and memory:// ones",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Cluster tests of one server share one xdist worker. With ``--quick``, deselect what needs
    a server, a cluster, worker processes, a fault suite or a broker other than memory:// (the
    edit-test loop; the full run still has them all)."""
    for item in items:
        if item.get_closest_marker("cluster") is not None:
            # Private clusters take CPU and memory: one RabbitMQ cluster and one set of Redis
            # servers at a time (--dist loadgroup); every node has free ports of its own, so the
            # two kinds run side by side and neither waits for the other's minutes.
            server = "rabbitmq" if "rabbitmq" in item.path.name else "redis"
            item.add_marker(pytest.mark.xdist_group(f"clusters-{server}"))
    if not config.getoption("--quick"):
        return
    kept, dropped = [], []
    for item in items:
        slow = any(item.get_closest_marker(name) for name in [*SERVICES, "cluster", "processes"])
        broker = getattr(item, "callspec", None) and item.callspec.params.get("broker_url")
        if slow or "faults" in item.path.parts or broker not in (None, "memory://"):
            dropped.append(item)
        else:
            kept.append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


@pytest.fixture(autouse=True)
def _empty_memory_transport() -> None:
    """Kombu keeps memory:// queues on a class: empty them so no test sees another's messages."""
    reset_memory_transport()


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    """Close the connections of every App a test made (a closed App reopens on its next use):
    Python 3.13 reports a SQLite connection collected unclosed in whichever test runs next."""
    before = weakref.WeakSet(registry.apps)  # weak: an App a test lets go of may still be collected
    yield
    for app in [app for app in registry.apps if app not in before]:
        app.close()


@pytest.fixture
def results_url(tmp_path: Path) -> str:
    """A SQLite results database of this test's own (the integration suite matches the broker's)."""
    return f"sqlite:///{tmp_path}/results.db"
