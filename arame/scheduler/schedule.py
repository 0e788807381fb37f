"""Schedules: when a periodic task's ticks fall, by cron expression or fixed interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from arame.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Schedule:
    """Either a cron expression (read in ``timezone``) or a fixed interval.

    Interval ticks fall on whole multiples of the interval since the Unix epoch, so every
    scheduler computes the same tick times and their claims collide as intended.
    """

    cron: str | None = None
    every: timedelta | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise ConfigurationError("a periodic task needs cron= or every=, exactly one of them")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ConfigurationError(f"not a cron expression: {self.cron!r}")
        if self.every is not None and self.every.total_seconds() < 1:
            raise ConfigurationError("every= must be at least one second")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise ConfigurationError(f"unknown time zone {self.timezone!r}") from exc

    def latest(self, now: datetime) -> datetime:
        """The last tick at or before ``now`` (UTC)."""
        if self.every is not None:
            step = self.every.total_seconds()
            return datetime.fromtimestamp(math.floor(now.timestamp() / step) * step, UTC)
        local = now.astimezone(ZoneInfo(self.timezone)) + timedelta(microseconds=1)
        previous: datetime = croniter(self.cron, local).get_prev(datetime)
        return previous.astimezone(UTC)

    def next(self, after: datetime) -> datetime:
        """The first tick strictly after ``after`` (UTC)."""
        if self.every is not None:
            step = self.every.total_seconds()
            return datetime.fromtimestamp((math.floor(after.timestamp() / step) + 1) * step, UTC)
        local = after.astimezone(ZoneInfo(self.timezone))
        following: datetime = croniter(self.cron, local).get_next(datetime)
        return following.astimezone(UTC)
