"""Periodic tasks: schedules, tick claims, two schedulers, missed ticks, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import arame
from arame.coordination import TickLedger
from arame.scheduler import PeriodicEntry, Schedule, Scheduler

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def test_a_cron_schedule_gives_the_previous_and_next_ticks() -> None:
    schedule = Schedule(cron="*/5 * * * *")
    assert schedule.latest(T0 + timedelta(minutes=7)) == T0 + timedelta(minutes=5)
    assert schedule.next(T0 + timedelta(minutes=7)) == T0 + timedelta(minutes=10)
    assert schedule.latest(T0) == T0


def test_a_cron_schedule_is_read_in_its_time_zone() -> None:
    schedule = Schedule(cron="0 9 * * *", timezone="Europe/Paris")
    assert schedule.next(T0) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Paris, winter


def test_interval_ticks_fall_on_whole_multiples_so_every_scheduler_agrees() -> None:
    schedule = Schedule(every=timedelta(seconds=30))
    assert schedule.latest(T0 + timedelta(seconds=44)) == T0 + timedelta(seconds=30)
    assert schedule.next(T0 + timedelta(seconds=44)) == T0 + timedelta(seconds=60)


@pytest.mark.parametrize(
    "options",
    [{}, {"cron": "* * * * *", "every": timedelta(minutes=1)}, {"cron": "not cron"}, {"every": timedelta(0)}],
)
def test_a_bad_schedule_is_refused(options: dict[str, object]) -> None:
    with pytest.raises(arame.ConfigurationError):
        Schedule(**options)  # type: ignore[arg-type]


class _Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[str, datetime]] = []

    def __call__(self, entry: PeriodicEntry, tick: datetime) -> None:
        self.published.append((entry.task_name, tick))


def _entry() -> PeriodicEntry:
    return PeriodicEntry("reports.daily", Schedule(every=timedelta(minutes=1)))


def test_two_schedulers_publish_each_tick_once(app: arame.App) -> None:
    ledger = TickLedger(app.results)
    first, second = _Recorder(), _Recorder()
    a, b = Scheduler([_entry()], ledger, first), Scheduler([_entry()], ledger, second)
    for minute in range(6):
        now = T0 + timedelta(minutes=minute, seconds=1)
        a.step(now)
        b.step(now)
    ticks = sorted(first.published + second.published)
    assert [tick for _, tick in ticks] == [T0 + timedelta(minutes=m) for m in range(1, 6)]


def test_a_scheduler_that_was_down_publishes_a_missed_tick_once(app: arame.App) -> None:
    ledger = TickLedger(app.results)
    before = _Recorder()
    running = Scheduler([_entry()], ledger, before)
    running.step(T0 + timedelta(seconds=1))  # first start ever: past ticks are not published
    assert before.published == []
    running.step(T0 + timedelta(minutes=1, seconds=1))
    assert before.published == [("reports.daily", T0 + timedelta(minutes=1))]

    after = _Recorder()  # down for ten minutes, then back
    Scheduler([_entry()], ledger, after).step(T0 + timedelta(minutes=11, seconds=5))
    assert after.published == [("reports.daily", T0 + timedelta(minutes=11))]


def test_a_tick_whose_publish_failed_is_published_by_the_next_step(app: arame.App) -> None:
    ledger = TickLedger(app.results)
    calls: list[datetime] = []

    def flaky(entry: PeriodicEntry, tick: datetime) -> None:
        calls.append(tick)
        if len(calls) == 1:
            raise arame.PublishError("broker down")

    scheduler = Scheduler([_entry()], ledger, flaky)
    scheduler.step(T0 + timedelta(seconds=1))
    scheduler._seen.clear()  # a fresh scheduler, as after a restart
    ledger.claim("reports.daily", T0)  # the tick before: so the next start catches up
    with pytest.raises(arame.PublishError):
        scheduler.step(T0 + timedelta(minutes=1, seconds=1))
    assert Scheduler([_entry()], ledger, flaky).step(T0 + timedelta(minutes=1, seconds=2)) == [
        ("reports.daily", T0 + timedelta(minutes=1))
    ]


def test_app_periodic_declares_the_task_and_the_scheduler_publishes_it(app: arame.App) -> None:
    @app.periodic(every=timedelta(seconds=1), args=(2, 3))
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert [e.task_name for e in app.periodic_entries] == [add.name]
    scheduler = app.scheduler()
    ledger = TickLedger(app.results)
    ledger.claim(add.name, T0)  # it ran before
    published = scheduler.step(datetime.now(UTC))
    assert len(published) == 1
    name, tick = published[0]
    row = app.AsyncResult(f"{name}@{tick.strftime('%Y%m%dT%H%M%SZ')}").row
    assert row is not None and row.state == arame.PENDING


def test_prune_deletes_finished_rows_older_than_result_expires(app: arame.App) -> None:
    @app.task
    def noop() -> None: ...

    old, pending = noop.delay(), noop.delay()
    from arame.testing import run_until_empty

    run_until_empty(app)
    pending_row = noop.delay()
    app.result_expires = timedelta(0)
    assert app.prune() == 2
    assert old.state == arame.UNKNOWN and pending.state == arame.UNKNOWN
    assert pending_row.state == arame.PENDING  # not finished: kept


def test_housekeeping_runs_at_its_own_interval(app: arame.App) -> None:
    calls: list[int] = []
    scheduler = Scheduler(
        [], TickLedger(app.results), _Recorder(), housekeeping=lambda: calls.append(1),
        housekeeping_every=timedelta(minutes=5),
    )  # fmt: skip

    for minutes in (0, 4, 5, 9, 10):
        scheduler.step(T0 + timedelta(minutes=minutes))

    assert len(calls) == 3


def test_the_apps_scheduler_reconciles_lost_tasks_and_prunes(app: arame.App, monkeypatch) -> None:
    done: list[str] = []
    monkeypatch.setattr(app, "reconcile", lambda: done.append("reconcile") or [])
    monkeypatch.setattr(app, "prune", lambda: done.append("prune") or 0)

    app.scheduler().step(T0)

    assert done == ["reconcile", "prune"]
