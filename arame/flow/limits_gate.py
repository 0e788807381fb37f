"""Rate and concurrency limits at claim time: the gate a fetched batch passes before its claim.

A task over a limit does not wait in a slot: it goes back to the broker, delayed until it may
start (the same message, same id and attempt count), and this delivery is acknowledged (the
consumer's ``Deferral``). The shared counters live where every worker sees them (``LimitStore``,
beside the results table). ``FlowLimits`` is the extension; ``FlowGate`` decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arame.coordination.flow_limits import LimitStore
from arame.extensions import Deferral, Extension, Held
from arame.flow.gcra import default_burst
from arame.flow.keys import KeySpec, SlotRequest, concurrency_key_of
from arame.flow.rates import parse_rate

if TYPE_CHECKING:
    from arame.app import App
    from arame.message import TaskMessage
    from arame.states import Outcome
    from arame.task import Task

logger = logging.getLogger(__name__)

SLOT_TTL = 3600.0  # a slot outlives a task reading STARTED this long (no time limit) only if its worker died


class FlowLimits(Extension):
    """The tasks of a batch over their ``rate_limit`` or ``concurrency_limit`` wait in the broker.

    Args:
        app: whose tasks declare the limits, and whose results database holds the counters.
    """

    def __init__(self, app: App) -> None:
        self._app = app
        self._gate = FlowGate(app.tasks, None)
        self._store: object = None  # the results store the counters were made for

    def before_claim(self, batch: list[Held], defer: Deferral) -> list[Held]:
        gate = self._gate
        if not gate.limits(batch):
            return batch  # the common case: no task of the batch has a limit
        store = self._app.results
        if store is not self._store:  # first use, or the App opened its results store again
            gate.limiter, self._store = LimitStore(store), store
        runnable, waiting = gate.admit(batch)
        if waiting:
            defer(waiting)
        return runnable

    def after_execution(self, message: TaskMessage, outcome: Outcome, seconds: float) -> None:
        self._gate.ran(message.task, seconds)


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
        limiter: the shared counters (needed once a batch has a limit).
        clock: the time now, epoch seconds.
    """

    def __init__(
        self,
        tasks: Mapping[str, Task[Any, Any]],
        limiter: LimitStore | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tasks = tasks
        self.limiter = limiter
        self._clock = clock
        self._rules: dict[str, tuple[Task[Any, Any] | None, _Rules | None]] = {}  # per task name
        self._runtime: dict[str, float] = {}  # per task name, seconds (moving average)

    def limits(self, batch: Sequence[Held]) -> bool:
        """Whether any task of the batch has a limit (else the gate costs nothing)."""
        return any(self._rules_of(m.task) for m, _ in batch)

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
        assert self.limiter is not None
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
            decision = self.limiter.take_tokens(name, rules.rate, rules.burst, len(group), now)
            runnable += group[: decision.granted]
            waiting += zip(group[decision.granted :], decision.not_before, strict=True)
        return runnable, waiting

    def _concurrency_limited(
        self, batch: list[Held], now: float
    ) -> tuple[list[Held], list[tuple[Held, float]]]:
        assert self.limiter is not None
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
        decided = self.limiter.take_slots(list(requests.values()), now)
        runnable = [held for held in batch if decided.get(held[0].id) is None]
        over = [(held, due) for held in batch if (due := decided.get(held[0].id)) is not None]
        return runnable, over

    def _give_back_tokens(self, over: list[tuple[Held, float]]) -> None:
        """A task that took a rate token and then waits for a concurrency slot returns its token."""
        assert self.limiter is not None
        unused: dict[str, int] = {}
        for (message, _), _ in over:
            rules = self._rules_of(message.task)
            if rules is not None and rules.rate is not None:
                unused[message.task] = unused.get(message.task, 0) + 1
        for name, count in unused.items():
            rate = self._rules_of(name)
            assert rate is not None and rate.rate is not None
            self.limiter.give_back(name, rate.rate, count)

    def _rules_of(self, name: str) -> _Rules | None:
        task = self._tasks.get(name)
        cached = self._rules.get(name)
        if cached is None or cached[0] is not task:  # first look, or the task was declared again
            cached = self._rules[name] = (task, _rules(task))
        return cached[1]


def _rules(task: Task[Any, Any] | None) -> _Rules | None:
    options = None if task is None else task.options
    if task is None or options is None or (options.rate_limit is None and options.concurrency_limit is None):
        return None
    rate = None if options.rate_limit is None else parse_rate(options.rate_limit)
    ttl = SLOT_TTL if options.time_limit is None else options.time_limit * 2 + 60
    burst = default_burst(rate) if rate is not None else 0
    return _Rules(rate, burst, options.concurrency_limit, options.concurrency_key, task, ttl)


def _signature(task: Task[Any, Any]) -> Any:
    try:
        return task.signature
    except (TypeError, ValueError):
        return None
