"""OutcomeWriter: group commits, retries, and which deliveries it reports committed."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from arame import states
from arame.consumers.writer import OutcomeWriter
from arame.states import Outcome


class FakeRecorder:
    """Records each call; fails the first ``failures`` calls (or all, with ``always_fail``)."""

    def __init__(self, failures: int = 0, *, always_fail: bool = False) -> None:
        self.calls: list[list[Outcome]] = []
        self.failures = failures
        self.always_fail = always_fail

    def record(self, outcomes: Sequence[Outcome]) -> None:
        self.calls.append(list(outcomes))
        if self.always_fail or self.failures > 0:
            self.failures -= 1
            raise RuntimeError("database is down")


class BlockingRecorder(FakeRecorder):
    """Holds its first commit until released, so more work piles up behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.first_commit_running = threading.Event()
        self.release = threading.Event()

    def record(self, outcomes: Sequence[Outcome]) -> None:
        super().record(outcomes)
        if len(self.calls) == 1:
            self.first_commit_running.set()
            assert self.release.wait(5)


def _outcome(n: int) -> Outcome:
    return Outcome(f"t-{n}", "shop.add", "default", states.SUCCESS, result_json=str(n))


class Done:
    def __init__(self) -> None:
        self.reports: list[tuple[str, bool]] = []

    def __call__(self, delivery: object, committed: bool) -> None:
        self.reports.append((str(delivery), committed))


def test_what_accumulated_before_the_writer_ran_is_committed_in_one_batch() -> None:
    recorder, done = FakeRecorder(), Done()
    writer = OutcomeWriter(recorder, done)
    for n in range(3):
        writer.finished(_outcome(n), f"delivery-{n}")
    writer.start()
    writer.stop()
    assert recorder.calls == [[_outcome(0), _outcome(1), _outcome(2)]]
    assert done.reports == [("delivery-0", True), ("delivery-1", True), ("delivery-2", True)]


def test_outcomes_that_arrive_during_a_commit_go_together_in_the_next_one() -> None:
    recorder, done = BlockingRecorder(), Done()
    writer = OutcomeWriter(recorder, done)
    writer.start()
    writer.finished(_outcome(0), "delivery-0")
    assert recorder.first_commit_running.wait(5)
    for n in (1, 2, 3):
        writer.finished(_outcome(n), f"delivery-{n}")
    recorder.release.set()
    writer.stop()
    assert recorder.calls == [
        [_outcome(0)],
        [_outcome(1), _outcome(2), _outcome(3)],
    ]
    assert [committed for _, committed in done.reports] == [True] * 4


def test_a_delivery_is_reported_only_after_its_outcome_is_recorded() -> None:
    recorder = FakeRecorder()
    seen_at_report: list[int] = []
    writer = OutcomeWriter(recorder, lambda delivery, committed: seen_at_report.append(len(recorder.calls)))
    writer.start()
    writer.finished(_outcome(0), "delivery-0")
    writer.stop()
    assert seen_at_report == [1]


def test_a_commit_that_fails_for_a_while_is_retried_until_it_succeeds() -> None:
    recorder, done = FakeRecorder(failures=2), Done()
    writer = OutcomeWriter(recorder, done, retry_for=10)
    writer.start()
    writer.finished(_outcome(0), "delivery-0")
    writer.stop()
    assert len(recorder.calls) == 3
    assert all(outcomes == [_outcome(0)] for outcomes in recorder.calls)
    assert done.reports == [("delivery-0", True)]


def test_a_commit_that_keeps_failing_reports_its_deliveries_not_committed() -> None:
    recorder, done = FakeRecorder(always_fail=True), Done()
    writer = OutcomeWriter(recorder, done, retry_for=0.2)
    writer.start()
    writer.finished(_outcome(0), "delivery-0")
    writer.finished(_outcome(1), "delivery-1")
    writer.stop()
    assert len(recorder.calls) >= 2
    assert sorted(done.reports) == [("delivery-0", False), ("delivery-1", False)]


def test_the_writer_keeps_working_after_a_batch_it_gave_up_on() -> None:
    recorder, done = FakeRecorder(failures=1), Done()
    first_reported = threading.Event()

    def on_done(delivery: object, committed: bool) -> None:
        done(delivery, committed)
        first_reported.set()

    writer = OutcomeWriter(recorder, on_done, retry_for=0)
    writer.start()
    writer.finished(_outcome(0), "delivery-0")
    assert first_reported.wait(5)
    writer.finished(_outcome(1), "delivery-1")
    writer.stop()
    assert done.reports == [("delivery-0", False), ("delivery-1", True)]


def test_stop_commits_everything_still_queued() -> None:
    recorder, done = FakeRecorder(), Done()
    writer = OutcomeWriter(recorder, done)
    writer.start()
    for n in range(50):
        writer.finished(_outcome(n), f"delivery-{n}")
    writer.stop()
    recorded = [outcome for outcomes in recorder.calls for outcome in outcomes]
    assert recorded == [_outcome(n) for n in range(50)]
    assert done.reports == [(f"delivery-{n}", True) for n in range(50)]


def test_stopping_an_idle_writer_records_nothing() -> None:
    recorder, done = FakeRecorder(), Done()
    writer = OutcomeWriter(recorder, done)
    writer.start()
    writer.stop()
    assert recorder.calls == []
    assert done.reports == []
