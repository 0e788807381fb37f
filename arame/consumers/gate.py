"""The flow-control gate a batch passes before its claim: rate limits and concurrency limits.

A task over a limit does not wait in a slot: it goes back to the broker, delayed until it may
start (the same message, same id and attempt count), and this delivery is acknowledged. The
shared counters live where every worker sees them (``Limiter``, the results database).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from arame.consumers.retry_publisher import RetryPublisher
from arame.errors import TransportError
from arame.flow.gcra import Decision, default_burst
from arame.flow.keys import KeySpec, SlotRequest, concurrency_key_of
from arame.flow.rates import parse_rate
from arame.message import TaskMessage
from arame.task import Task
from arame.transport import Delivery

logger = logging.getLogger(__name__)

Held = tuple[TaskMessage, Delivery]
SLOT_TTL = 3600.0  # a slot outlives a task reading STARTED this long (no time limit) only if its worker died


class Limiter(Protocol):
    """The shared counters and the fair sub-queues: the results database (``LimitStore``)."""

    def take_tokens(self, task_name: str, rate: float, burst: int, count: int, now: float) -> Decision:
        """Take up to ``count`` starts under ``rate`` per second."""

    def give_back(self, task_name: str, rate: float, count: int) -> None:
        """Return ``count`` starts taken but not used (their tasks wait for a concurrency slot)."""

    def take_slots(self, requests: Sequence[SlotRequest], now: float) -> dict[str, float | None]:
        """Take concurrency slots: per task id ``None`` (it got one) or when it may come back."""

    def fair_queues(self, parents: Sequence[str]) -> dict[str, str]:
        """Fair shares: the registered sub-queues of ``parents``, each with its parent."""

    def forget_fair_queues(self, subqueues: Sequence[str]) -> list[str]:
        """Fair shares: forget those of ``subqueues`` (found empty) no task needs; return them."""


@dataclass(frozen=True, slots=True)
class _Rules:
    rate: float | None
    burst: int
    limit: int | None
    key: KeySpec | None
    task: Task[Any, Any]
    ttl: float


class FlowGate:
    """Splits a batch into the tasks that start now and those that wait, with when they may come back.

    Args:
        tasks: the registry.
        limiter: the shared counters; ``None`` lets everything through (no limits declared).
    """

    def __init__(
        self,
        tasks: Mapping[str, Task[Any, Any]],
        limiter: Limiter | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tasks = tasks
        self._limiter = limiter
        self._clock = clock
        self._rules: dict[str, _Rules | None] = {}
        self._runtime: dict[str, float] = {}  # per task name, seconds (moving average)

    def limits(self, batch: Sequence[Held]) -> bool:
        """Whether any task of the batch has a limit (else the gate costs nothing)."""
        return self._limiter is not None and any(self._rules_of(m.task) for m, _ in batch)

    def ran(self, task_name: str, seconds: float) -> None:
        """A task ran this long: paces how its waiting tasks come back."""
        if task_name in self._runtime or self._rules_of(task_name) is not None:
            previous = self._runtime.get(task_name, seconds)
            self._runtime[task_name] = previous * 0.8 + seconds * 0.2

    def admit(self, batch: list[Held]) -> tuple[list[Held], list[tuple[Held, float]]]:
        """The tasks that start now, and those that wait with the epoch second they may come back.

        If the shared counters cannot be reached, every task starts (as a failed claim does).
        """
        now = self._clock()
        try:
            runnable, waiting = self._rate_limited(batch, now)
            runnable, over = self._concurrency_limited(runnable, now)
            self._give_back_tokens(over)
        except Exception as exc:  # noqa: BLE001 - limits are best effort when the database is down
            logger.warning("could not check the limits of %d task(s), running them: %s", len(batch), exc)
            return batch, []
        return runnable, waiting + over

    def _rate_limited(self, batch: list[Held], now: float) -> tuple[list[Held], list[tuple[Held, float]]]:
        assert self._limiter is not None
        by_name: dict[str, list[Held]] = {}
        runnable: list[Held] = []
        for held in batch:
            rules = self._rules_of(held[0].task)
            if rules is not None and rules.rate is not None:
                by_name.setdefault(held[0].task, []).append(held)
            else:
                runnable.append(held)
        waiting: list[tuple[Held, float]] = []
        for name, group in by_name.items():
            rules = self._rules_of(name)
            assert rules is not None and rules.rate is not None
            decision = self._limiter.take_tokens(name, rules.rate, rules.burst, len(group), now)
            runnable += group[: decision.granted]
            waiting += zip(group[decision.granted :], decision.not_before, strict=True)
        return runnable, waiting

    def _concurrency_limited(
        self, batch: list[Held], now: float
    ) -> tuple[list[Held], list[tuple[Held, float]]]:
        assert self._limiter is not None
        requests: dict[str, SlotRequest] = {}
        for message, _ in batch:
            rules = self._rules_of(message.task)
            if rules is not None and rules.limit is not None:
                key = concurrency_key_of(rules.key, _signature(rules.task), message.args, message.kwargs)
                # Waiting tasks come back at the pace the key runs: its run time over its limit.
                spacing = max(self._runtime.get(message.task, 0.1), 0.001) / rules.limit
                requests[message.id] = SlotRequest(
                    message.id, message.task, key, rules.limit, rules.ttl, spacing
                )
        if not requests:
            return batch, []
        decided = self._limiter.take_slots(list(requests.values()), now)
        runnable = [held for held in batch if decided.get(held[0].id) is None]
        over = [(held, due) for held in batch if (due := decided.get(held[0].id)) is not None]
        return runnable, over

    def _give_back_tokens(self, over: list[tuple[Held, float]]) -> None:
        """A task that took a rate token and then waits for a concurrency slot returns its token."""
        assert self._limiter is not None
        unused: dict[str, int] = {}
        for (message, _), _ in over:
            rules = self._rules_of(message.task)
            if rules is not None and rules.rate is not None:
                unused[message.task] = unused.get(message.task, 0) + 1
        for name, count in unused.items():
            rate = self._rules_of(name)
            assert rate is not None and rate.rate is not None
            self._limiter.give_back(name, rate.rate, count)

    def _rules_of(self, name: str) -> _Rules | None:
        if name not in self._rules:
            task = self._tasks.get(name)
            options = None if task is None else task.options
            if (
                task is None
                or options is None
                or (options.rate_limit is None and options.concurrency_limit is None)
            ):
                self._rules[name] = None
            else:
                rate = None if options.rate_limit is None else parse_rate(options.rate_limit)
                ttl = SLOT_TTL if options.time_limit is None else options.time_limit * 2 + 60
                burst = default_burst(rate) if rate is not None else 0
                self._rules[name] = _Rules(
                    rate, burst, options.concurrency_limit, options.concurrency_key, task, ttl
                )
        return self._rules[name]


def _signature(task: Task[Any, Any]) -> Any:
    try:
        return task.signature
    except (TypeError, ValueError):
        return None


def defer_over_limit(
    gate: FlowGate, retries: RetryPublisher, batch: list[Held], settle: Callable[[Delivery, bool], None]
) -> list[Held]:
    """Publish the tasks of ``batch`` over a limit again, delayed, and acknowledge them; return the rest.

    The same message (id, attempt) with a later ``eta``; acknowledged only once the broker
    holds the delayed copy, so it is never lost (at worst it is there twice: the claim runs one).
    """
    runnable, waiting = gate.admit(batch)
    if not waiting:
        return runnable
    try:
        retries.publish_later([replace(message, eta=at) for (message, _), at in waiting])
    except TransportError as exc:
        logger.warning("could not put %d task(s) over their limits back: %s", len(waiting), exc)
        for (_, delivery), _ in waiting:
            settle(delivery, False)
        return runnable
    for (_, delivery), _ in waiting:
        settle(delivery, True)
    return runnable
