"""Scheduler: publishes each tick of each periodic task once, however many schedulers run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from arame.scheduler.schedule import Schedule

logger = logging.getLogger(__name__)

MAX_SLEEP = 1.0  # seconds; bounds how late stop() is seen
HOUSEKEEPING_EVERY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PeriodicEntry:
    """A task to publish on a schedule, with the arguments of every call."""

    task_name: str
    schedule: Schedule
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


class Ledger(Protocol):
    """Where ticks are claimed; one claim per tick wins, whichever scheduler makes it."""

    def claim(self, task_name: str, tick: datetime) -> bool: ...
    def release(self, task_name: str, tick: datetime) -> None: ...
    def last_tick(self, task_name: str) -> datetime | None: ...


class Scheduler:
    """Publishes periodic tasks at their ticks.

    A tick is published by the scheduler that claims it in the ledger, so two schedulers never
    publish it twice. A scheduler that was down publishes only the latest tick it missed, once.
    On the very first start of a task (no tick ever claimed), past ticks are not published.

    Args:
        entries: what to publish and when.
        ledger: the tick claims (the results database).
        publish: publishes one entry for one tick.
        housekeeping: run every ``housekeeping_every`` (prune old results, reconcile), if given.
        housekeeping_every: how often (an hour by default).
    """

    def __init__(
        self,
        entries: Sequence[PeriodicEntry],
        ledger: Ledger,
        publish: Callable[[PeriodicEntry, datetime], None],
        *,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every: timedelta = HOUSEKEEPING_EVERY,
    ) -> None:
        self.entries = list(entries)
        self._ledger = ledger
        self._publish = publish
        self._housekeeping = housekeeping
        self._housekeeping_every = housekeeping_every
        self._seen: dict[str, datetime] = {}
        self._next_housekeeping: datetime | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Publish ticks until ``stop()``."""
        logger.info("scheduling %s", ", ".join(e.task_name for e in self.entries) or "nothing")
        while not self._stopping.is_set():
            now = datetime.now(UTC)
            try:
                self.step(now)
            except Exception as exc:  # noqa: BLE001 - a database or broker outage: try again soon
                logger.warning("scheduler step failed, retrying: %s", exc)
            self._stopping.wait(self._sleep_after(datetime.now(UTC)))

    def start(self) -> None:
        """Run on a background thread."""
        self._thread = threading.Thread(target=self.run, name="arame-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current step."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def step(self, now: datetime) -> list[tuple[str, datetime]]:
        """Publish every tick due at ``now`` that this scheduler wins; return them."""
        published = []
        for entry in self.entries:
            due = entry.schedule.latest(now)
            seen = self._seen.get(entry.task_name)
            if seen is None:
                last = self._ledger.last_tick(entry.task_name)
                seen = due if last is None else last  # first start ever: no catching up
            if due > seen and self._publish_once(entry, due):
                published.append((entry.task_name, due))
            self._seen[entry.task_name] = max(due, seen)
        self._maybe_housekeep(now)
        return published

    def _publish_once(self, entry: PeriodicEntry, tick: datetime) -> bool:
        if not self._ledger.claim(entry.task_name, tick):
            return False  # another scheduler has it
        try:
            self._publish(entry, tick)
        except Exception:
            self._ledger.release(entry.task_name, tick)  # let the next step, or another scheduler, retry
            raise
        logger.info("published %s for %s", entry.task_name, tick.isoformat())
        return True

    def _maybe_housekeep(self, now: datetime) -> None:
        if self._housekeeping is None:
            return
        if self._next_housekeeping is None or now >= self._next_housekeeping:
            self._next_housekeeping = now + self._housekeeping_every
            self._housekeeping()

    def _sleep_after(self, now: datetime) -> float:
        if not self.entries:
            return MAX_SLEEP
        upcoming = min(entry.schedule.next(now) for entry in self.entries)
        return max(0.0, min(MAX_SLEEP, (upcoming - now).total_seconds()))
