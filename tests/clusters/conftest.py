"""Private Redis servers for the failover tests, killed at the end of the module whatever happens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clusters.servers import Servers, have_redis
from tests.faults.conftest import pytest_terminal_summary  # noqa: F401 - prints the figures


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    if not have_redis():
        pytest.skip("redis-server and redis-cli are not installed")
    started = Servers(tmp_path_factory.mktemp("redis"))
    try:
        yield started
    finally:
        started.stop()
