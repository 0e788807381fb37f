"""Retries, countdowns, expiry and revocation through a worker, on memory:// and SQLite."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

import arame
from arame.testing import run_until_empty


def test_a_task_that_keeps_failing_reads_retry_then_failure_after_max_retries(app: arame.App) -> None:
    attempts: list[float] = []

    @app.task(autoretry_for=(ConnectionError,), max_retries=2, retry_delay=0, retry_jitter=False)
    def call_partner() -> None:
        attempts.append(time.time())
        raise ConnectionError("partner down")

    handle = call_partner.delay()
    run_until_empty(app)
    row = handle.row
    assert row is not None
    assert (row.state, row.attempts, row.error_type) == (arame.FAILURE, 3, "ConnectionError")
    assert len(attempts) == 3


def test_a_retry_row_shows_the_attempt_and_the_last_error_until_the_next_attempt(app: arame.App) -> None:
    @app.task
    def later() -> None:
        raise arame.Retry(countdown=60, exc=TimeoutError("slow partner"))

    handle = later.delay()
    run_until_empty(app)
    row = handle.row
    assert row is not None
    assert (row.state, row.attempts, row.error_type, row.error_message) == (
        arame.RETRY,
        1,
        "TimeoutError",
        "slow partner",
    )
    assert row.finished_at is None


def test_a_task_that_retries_once_then_succeeds_reads_success(app: arame.App) -> None:
    calls: list[int] = []

    @app.task
    def flaky() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise arame.Retry(countdown=0)
        return len(calls)

    handle = flaky.delay()
    run_until_empty(app)
    assert handle.get(timeout=5) == 2
    assert handle.row is not None and handle.row.attempts == 2


def test_a_countdown_task_does_not_run_before_its_time(app: arame.App) -> None:
    ran_at: list[float] = []

    @app.task
    def stamp() -> None:
        ran_at.append(time.time())

    published = time.time()
    handle = stamp.apply_async(countdown=0.5)
    worker = app.worker(concurrency=1)
    worker.start()
    try:
        handle.get(timeout=10)
    finally:
        worker.stop()
    assert ran_at[0] >= published + 0.5


def test_a_naive_eta_is_refused(app: arame.App) -> None:
    @app.task
    def noop() -> None: ...

    with pytest.raises(arame.ConfigurationError, match="aware"):
        noop.apply_async(eta=datetime.now() + timedelta(seconds=1))
    noop.apply_async(eta=datetime.now(UTC))  # an aware one is fine


def test_a_revoked_task_never_runs_and_reads_revoked(app: arame.App) -> None:
    calls: list[int] = []

    @app.task
    def charge() -> None:
        calls.append(1)

    handle = charge.delay()
    assert handle.revoke() is True
    run_until_empty(app)
    assert handle.state == arame.REVOKED
    assert calls == []
    with pytest.raises(arame.TaskFailed, match="TaskRevoked"):
        handle.get(timeout=1)


def test_a_finished_task_cannot_be_revoked(app: arame.App) -> None:
    @app.task
    def noop() -> None: ...

    handle = noop.delay()
    run_until_empty(app)
    assert handle.revoke() is False
    assert handle.state == arame.SUCCESS


def test_an_expired_task_is_not_run_and_reads_revoked(app: arame.App) -> None:
    calls: list[int] = []

    @app.task
    def report() -> None:
        calls.append(1)

    handle = report.apply_async(expires=datetime.now(UTC) - timedelta(seconds=1))
    run_until_empty(app)
    assert calls == []
    row = handle.row
    assert row is not None and (row.state, row.error_type) == (arame.REVOKED, "TaskExpired")


def test_a_soft_time_limit_raises_inside_the_task_which_may_clean_up(app: arame.App) -> None:
    @app.task(soft_time_limit=0.2)
    def long_report() -> str:
        try:
            while True:  # pure Python: interruptible at any bytecode
                pass
        except arame.SoftTimeLimitExceeded:
            return "partial report saved"

    handle = long_report.delay()
    run_until_empty(app)
    assert handle.get(timeout=5) == "partial report saved"


def test_a_hard_time_limit_in_the_thread_pool_fails_the_task_with_time_limit_exceeded(app: arame.App) -> None:
    @app.task(time_limit=0.2)
    def spin() -> None:
        while True:
            pass

    handle = spin.delay()
    run_until_empty(app)
    row = handle.row
    assert row is not None
    assert (row.state, row.error_type) == (arame.FAILURE, "arame.errors.TimeLimitExceeded")


def test_a_task_within_its_limits_is_not_disturbed(app: arame.App) -> None:
    @app.task(time_limit=5, soft_time_limit=4)
    def quick() -> int:
        return 42

    handle = quick.delay()
    run_until_empty(app)
    assert handle.get(timeout=5) == 42
