"""Time: countdowns that survive a worker restart, retries, expiry, revocation.

The broker only carries the messages here (memory:// and SQLite); delayed delivery on every
broker is test_delayed_delivery's.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

import arame
from arame.coordination import TickLedger
from arame.scheduler import PeriodicEntry, Schedule, Scheduler
from tests.integration.conftest import FEATURE_BROKERS, on_brokers

pytestmark = on_brokers(FEATURE_BROKERS)

TIMEOUT = 30


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    application = arame.App("time", broker=broker_url, results=results_url)
    yield application
    application.close()


def _run_worker(app: arame.App, queue: str) -> arame.consumers.Worker:
    worker = app.worker(queues=[queue], concurrency=2)
    worker.start()
    return worker


def test_a_countdown_task_waits_through_a_worker_restart_and_never_runs_early(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    ran_at: list[float] = []

    @app.task(queue=queue)
    def stamp() -> None:
        ran_at.append(time.time())

    eta = datetime.now(UTC) + timedelta(seconds=2)
    handle = stamp.apply_async(eta=eta)
    first = _run_worker(app, queue)
    first.stop(timeout=TIMEOUT)  # every worker goes away while the task waits
    assert handle.state == arame.PENDING and ran_at == []

    second = _run_worker(app, queue)
    try:
        handle.get(timeout=TIMEOUT)
    finally:
        second.stop(timeout=TIMEOUT)
    assert ran_at[0] >= eta.timestamp()
    assert len(ran_at) == 1


def test_retries_follow_the_attempt_sequence_and_their_delays(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    runs: list[float] = []

    @app.task(
        queue=queue, autoretry_for=(ConnectionError,), max_retries=3, retry_delay=0.5, retry_jitter=False
    )
    def sync_partner() -> int:
        runs.append(time.time())
        if len(runs) < 3:
            raise ConnectionError("partner down")
        return len(runs)

    worker = _run_worker(app, queue)
    try:
        handle = sync_partner.delay()
        assert handle.get(timeout=TIMEOUT) == 3
    finally:
        worker.stop(timeout=TIMEOUT)
    row = handle.row
    assert row is not None and (row.state, row.attempts) == (arame.SUCCESS, 3)
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    assert all(gap >= 0.5 for gap in gaps), gaps
    assert all(gap < 0.5 + 5 for gap in gaps), gaps  # generous: a loaded CI machine


def test_an_exhausted_retry_reads_failure_with_the_last_error(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(queue=queue, autoretry_for=(KeyError,), max_retries=1, retry_delay=0, retry_jitter=False)
    def lookup() -> None:
        raise KeyError("sku-42")

    worker = _run_worker(app, queue)
    try:
        handle = lookup.delay()
        with pytest.raises(arame.TaskFailed, match="sku-42"):
            handle.get(timeout=TIMEOUT)
    finally:
        worker.stop(timeout=TIMEOUT)
    row = handle.row
    assert row is not None and (row.state, row.attempts, row.error_type) == (arame.FAILURE, 2, "KeyError")


def test_a_revoked_task_and_an_expired_task_never_run(app: arame.App, new_queue: Callable[[], str]) -> None:
    queue = new_queue()
    calls: list[str] = []

    @app.task(queue=queue)
    def charge(order: str) -> None:
        calls.append(order)

    revoked = charge.delay("revoked")
    assert revoked.revoke()
    expired = charge.apply_async(("expired",), expires=0.01)
    time.sleep(0.05)  # let it expire: the point of this test is the passing of time
    kept = charge.delay("kept")
    worker = _run_worker(app, queue)
    try:
        kept.get(timeout=TIMEOUT)
    finally:
        worker.stop(timeout=TIMEOUT)
    assert calls == ["kept"]
    assert revoked.state == arame.REVOKED and expired.state == arame.REVOKED


@pytest.mark.parametrize("results", ["postgres", "mysql"])
def test_two_schedulers_on_a_server_database_publish_each_tick_once(results: str, request) -> None:
    url = {"postgres": "postgresql://127.0.0.1/test", "mysql": "mysql://root@127.0.0.1/test"}[results]
    request.applymarker(getattr(pytest.mark, results))
    app = arame.App("ticks", broker="memory://", results=url)
    name = f"ticks.{datetime.now(UTC).timestamp()}"
    published: list[datetime] = []
    entry = PeriodicEntry(name, Schedule(every=timedelta(minutes=1)))
    ledger = TickLedger(app.results)
    schedulers = [Scheduler([entry], ledger, lambda _e, tick: published.append(tick)) for _ in range(2)]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    try:
        for minute in range(5):
            for scheduler in schedulers:
                scheduler.step(start + timedelta(minutes=minute, seconds=1))
        assert published == [start + timedelta(minutes=m) for m in range(1, 5)]
    finally:
        ledger.prune(start + timedelta(days=1))
        app.close()
