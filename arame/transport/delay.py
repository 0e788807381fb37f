"""Delayed delivery: the ``not_before`` header every transport reads, and the clock arithmetic.

A delayed message never waits in a consumer's memory. Each transport keeps it where every worker
can crash or restart without losing it, and makes it deliverable on its own when it comes due:

- SQL: the row's ``not_before`` column (the fetch skips rows not yet due).
- Redis (arame's own): a per-queue sorted set scored by due time (server clock), moved to the
  ready lists by the fetch script.
- RabbitMQ: a TTL queue per delay bucket that dead-letters into the queue (see ``amqp_delay``).
- ``memory://``: a heap in the transport, in this process only.

The header travels with the message on every transport, so a consumer can tell when it was due.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from arame.errors import ConfigurationError
from arame.transport.delivery import NOT_BEFORE, is_number, not_before_of

__all__ = ["NOT_BEFORE", "delay_ms", "not_before_of", "seconds_until"]


def seconds_until(not_before: float | None, now: float | None = None) -> float:
    """How long until ``not_before``: 0 or less when it is due (or ``None``).

    Raises:
        ConfigurationError: ``not_before`` is not a finite number.
    """
    if not_before is None:
        return 0.0
    if not is_number(not_before):
        raise ConfigurationError(f"not_before must be epoch seconds (a finite number), not {not_before!r}")
    return float(not_before) - (time.time() if now is None else now)


def delay_ms(headers: Mapping[str, Any] | None, now: float | None = None) -> int:
    """Whole milliseconds until the message is due, rounded up (0 when it is due now)."""
    not_before = not_before_of(headers)
    if not_before is None:
        return 0
    return max(0, math.ceil(seconds_until(not_before, now) * 1000))
