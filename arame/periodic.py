"""An App's periodic tasks: declaring them, the scheduler that publishes their ticks, and the
housekeeping it runs (reconcile, prune)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from arame.coordination import TickLedger
from arame.coordination.join_plans import prune_joins
from arame.errors import ConfigurationError
from arame.scheduler import PeriodicEntry, Schedule, Scheduler
from arame.task import Task

if TYPE_CHECKING:
    from arame.app import App

logger = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = timedelta(minutes=5)  # how soon the scheduler republishes tasks a broker lost


def register_periodic(
    app: App, schedule: Schedule, args: Sequence[Any], kwargs: dict[str, Any] | None
) -> Callable[[Any], Any]:
    """The decorator ``App.periodic`` returns: declares the task if need be and adds its entry."""

    def register(target: Any) -> Any:
        task = target if isinstance(target, Task) else app.task(target)
        app.periodic_entries.append(PeriodicEntry(task.name, schedule, tuple(args), dict(kwargs or {})))
        return task

    return register


def scheduler(app: App) -> Scheduler:
    """A scheduler for this app's periodic tasks; ``run()`` it or ``start()`` / ``stop()`` it."""

    def publish(entry: PeriodicEntry, tick: datetime) -> None:
        # A deterministic id: the tick's row is the same whichever scheduler publishes it.
        task_id = f"{entry.task_name}@{tick.strftime('%Y%m%dT%H%M%SZ')}"
        app.tasks[entry.task_name].apply_async(entry.args, entry.kwargs, task_id=task_id)

    return Scheduler(
        app.periodic_entries,
        TickLedger(app.results),
        publish,
        housekeeping=lambda: housekeeping(app),
        housekeeping_every=HOUSEKEEPING_EVERY,
    )


def housekeeping(app: App) -> None:
    try:
        app.reconcile()
    finally:
        app.prune()


def prune(app: App) -> int:
    """Delete what is older than ``result_expires``: finished rows, ticks, finished workflows' joins.

    Returns:
        How many rows of results were deleted.
    """
    cutoff = datetime.now(UTC) - app.result_expires
    deleted = app.results.prune(cutoff)
    TickLedger(app.results).prune(cutoff)
    joins = prune_joins(app.results, cutoff)  # workflows: the joins of steps that can no longer change
    logger.info(
        "pruned %d finished rows and %d workflow joins older than %s", deleted, joins, cutoff.isoformat()
    )
    return deleted


def period(value: object, what: str) -> timedelta:
    """A timedelta from a timedelta or a number of seconds (Celery's spelling)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise ConfigurationError(f"{what} must be a timedelta or seconds as a number, not {value!r}")
    if value < timedelta(0):
        raise ConfigurationError(f"{what} must not be negative, not {value}")
    return value


class PeriodicVerbs:
    """Mixed into ``App``: periodic tasks, the scheduler that publishes them, and housekeeping."""

    timezone: str
    _result_expires: timedelta

    @property
    def result_expires(self) -> timedelta:
        """How long finished rows are kept; set it as a timedelta or as seconds."""
        return self._result_expires

    @result_expires.setter
    def result_expires(self, value: timedelta | float) -> None:
        self._result_expires = period(value, "result_expires")

    def periodic(
        self,
        *,
        cron: str | None = None,
        every: timedelta | float | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Callable[[Any], Any]:
        """Publish a task on a schedule: ``@app.periodic(cron="*/5 * * * *")`` above ``@app.task``.

        ``every`` is a timedelta or seconds as a number.

        On a plain function it declares the task too. Ticks are published by ``arame scheduler``
        (or ``arame worker --scheduler``), each tick once however many schedulers run.

        Raises:
            ConfigurationError: neither or both of cron/every, or an invalid expression.
        """
        interval = None if every is None else period(every, "every")
        schedule = Schedule(cron=cron, every=interval, timezone=self.timezone)
        return register_periodic(_app(self), schedule, args, kwargs)

    def scheduler(self) -> Scheduler:
        """A scheduler for this app's periodic tasks; ``run()`` it or ``start()`` / ``stop()`` it."""
        _app(self).import_included()
        return scheduler(_app(self))

    def prune(self) -> int:
        """Delete what is older than ``result_expires``: finished rows, ticks, finished workflows' joins.

        Returns:
            How many rows of results were deleted.
        """
        return prune(_app(self))


def _app(verbs: PeriodicVerbs) -> App:
    return cast("App", verbs)  # only App mixes these verbs in
