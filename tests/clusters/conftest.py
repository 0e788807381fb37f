"""Private Redis servers for the failover tests, killed at the end of the module whatever happens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusters.servers import Servers, have_redis
from tests.faults.conftest import (
    pytest_terminal_summary,  # noqa: F401 - prints the figures
    workers,  # noqa: F401 - the fault suites' fixture
)
from tests.faults.helpers import Stack


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    if not have_redis():
        pytest.skip("redis-server and redis-cli are not installed")
    started = Servers(tmp_path_factory.mktemp("redis"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """arame on the module's private Redis (``redis_url``), results in a SQLite file of its own."""
    built = Stack("redis", redis_url, f"sqlite:///{tmp_path}/results.db", tmp_path)
    yield built
    built.close()
