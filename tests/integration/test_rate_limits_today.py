"""A rate-limited task runs through a worker at today's epoch, whatever the rate's spelling.

The GCRA state lives in the results database, so each rate runs on each of them (the SQL broker
of the same database holds the messages).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

import arame
from arame.flow import parse_rate
from arame.flow.gcra import default_burst

TIMEOUT = 30
RATES = ["10/s", "3/s", "7/s", "15/s", "50/s", "100/m", "600/m", "1000/h", "5/s", "2/s"]
SQL_BROKERS = [
    pytest.param("sqlite:///{tmp}/broker.db", id="sqlite"),
    pytest.param("postgresql://127.0.0.1/test", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql://root@127.0.0.1/test", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("rates", broker=broker_url, results=results_url)
    yield app
    app.close()


@pytest.mark.parametrize("broker_url", SQL_BROKERS, indirect=True)
@pytest.mark.parametrize("rate", RATES)
def test_a_rate_limited_task_runs_and_the_one_past_its_burst_waits_an_interval(
    app: arame.App, new_queue: Callable[[], str], rate: str
) -> None:
    queue = new_queue()
    starts: list[float] = []
    lock = threading.Lock()

    @app.task(name=f"rates.{queue}", queue=queue, rate_limit=rate)
    def limited(n: int) -> int:
        with lock:
            starts.append(time.time())
        return n

    per_second = parse_rate(rate)
    count = default_burst(per_second) + 1  # the burst, and one that must wait its turn
    published = time.time()  # the burst starts after this, the last one an interval later
    handles = limited.map([(n,) for n in range(count)])
    worker = app.worker([queue], count)
    worker.start()
    try:
        assert sorted(h.get(timeout=TIMEOUT) for h in handles) == list(range(count))
    finally:
        worker.stop(timeout=TIMEOUT)
    assert max(starts) - published >= 1 / per_second
