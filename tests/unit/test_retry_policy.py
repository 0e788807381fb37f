"""The retry policy: which failures retry, and how long each retry waits."""

from __future__ import annotations

import pytest

import arame
from arame.consumers.retry_publisher import retry_delay
from arame.task import TaskOptions


def _options(**options: object) -> TaskOptions:
    return TaskOptions(name="t", **options)  # type: ignore[arg-type]


def test_an_error_not_listed_in_autoretry_for_is_final() -> None:
    assert retry_delay(_options(autoretry_for=(ConnectionError,)), ValueError("no"), 1) is None


def test_a_listed_error_retries_after_retry_delay_without_backoff() -> None:
    options = _options(autoretry_for=(ConnectionError,), retry_delay=7, retry_jitter=False)
    assert retry_delay(options, ConnectionRefusedError("down"), 1) == 7


def test_backoff_true_starts_at_one_second_and_doubles_up_to_the_cap() -> None:
    options = _options(
        autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=5, retry_jitter=False, max_retries=10
    )
    assert [retry_delay(options, OSError(), n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_a_numeric_backoff_is_the_first_delay() -> None:
    options = _options(autoretry_for=(OSError,), retry_backoff=3, retry_jitter=False)
    assert [retry_delay(options, OSError(), n) for n in (1, 2, 3)] == [3, 6, 12]


def test_jitter_picks_a_delay_between_zero_and_the_computed_one() -> None:
    options = _options(autoretry_for=(OSError,), retry_backoff=8, max_retries=50)
    delays = [retry_delay(options, OSError(), 1) for _ in range(200)]
    assert all(0 <= d <= 8 for d in delays if d is not None)
    assert len({round(d, 3) for d in delays if d is not None}) > 100


def test_retries_stop_after_max_retries() -> None:
    options = _options(autoretry_for=(OSError,), max_retries=2, retry_jitter=False)
    assert retry_delay(options, OSError(), 2) is not None  # the second attempt may retry once more
    assert retry_delay(options, OSError(), 3) is None  # three attempts: two retries were used


def test_raising_retry_uses_its_countdown_and_counts_against_max_retries() -> None:
    options = _options(max_retries=1)
    assert retry_delay(options, arame.Retry(countdown=12.5), 1) == 12.5
    assert retry_delay(options, arame.Retry(countdown=12.5), 2) is None


def test_raising_retry_without_countdown_follows_the_policy() -> None:
    options = _options(retry_delay=4, retry_jitter=False)
    assert retry_delay(options, arame.Retry(), 1) == 4


@pytest.mark.parametrize("attempts", [1, 2, 3])
def test_max_retries_zero_never_retries(attempts: int) -> None:
    assert retry_delay(_options(max_retries=0), arame.Retry(countdown=0), attempts) is None
