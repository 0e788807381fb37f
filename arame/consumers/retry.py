"""The retry policy: whether a failed attempt runs again, and after how long."""

from __future__ import annotations

import random

from arame.errors import Retry
from arame.task import TaskOptions


def retry_delay(options: TaskOptions, exc: BaseException, attempts: int) -> float | None:
    """Seconds until the next attempt, or ``None`` when this failure is final.

    Args:
        options: the task's retry options.
        exc: what the attempt raised.
        attempts: attempts made so far, this one included.
    """
    asked = isinstance(exc, Retry)
    if not asked and not (options.autoretry_for and isinstance(exc, options.autoretry_for)):
        return None
    limit = exc.max_retries if isinstance(exc, Retry) and exc.max_retries is not None else options.max_retries
    if attempts > limit:  # max_retries counts retries: attempts = retries + 1
        return None
    if isinstance(exc, Retry) and exc.countdown is not None:
        return max(0.0, float(exc.countdown))
    if options.retry_backoff:
        first = 1.0 if options.retry_backoff is True else float(options.retry_backoff)
        delay = min(first * 2 ** (attempts - 1), options.retry_backoff_max)
    else:
        delay = options.retry_delay
    # Jitter spreads the retries of many tasks that failed together (a dependency went down).
    return random.uniform(0, delay) if options.retry_jitter else delay
