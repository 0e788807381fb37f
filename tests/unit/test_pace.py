"""Pace: the prefetch window and claim batches follow how long tasks take."""

from __future__ import annotations

from arame.consumers.pace import MAX_CLAIM, SHORT_TASK, WINDOW, Pace


def test_before_any_task_ran_a_consumer_holds_no_window_and_claims_one_at_a_time() -> None:
    pace = Pace()

    assert pace.window() == 0
    assert pace.claim_size(ready=50, slots=1) == 1


def test_short_tasks_open_the_window_and_batch_the_claims() -> None:
    pace = Pace()
    for _ in range(5):
        pace.ran(SHORT_TASK / 10)

    assert pace.short
    assert pace.window() == WINDOW
    assert pace.claim_size(ready=10, slots=1) == 10
    assert pace.claim_size(ready=500, slots=1) == MAX_CLAIM


def test_slots_share_what_is_ready() -> None:
    pace = Pace()
    pace.ran(0.0)

    assert pace.claim_size(ready=10, slots=4) == 3
    assert pace.claim_size(ready=1, slots=4) == 1


def test_long_tasks_close_the_window_again() -> None:
    pace = Pace()
    pace.ran(0.0)
    assert pace.short

    for _ in range(30):
        pace.ran(1.0)

    assert not pace.short
    assert pace.window() == 0
    assert pace.claim_size(ready=50, slots=1) == 1


def test_durations_between_the_two_thresholds_keep_the_window_as_it_was() -> None:
    opened, closed = Pace(), Pace()
    opened.ran(0.0)
    closed.ran(1.0)

    for _ in range(100):
        opened.ran(SHORT_TASK * 1.5)
        closed.ran(SHORT_TASK * 1.5)

    assert opened.short and not closed.short
