"""Immediate mode runs tasks in the caller's thread; delay_on_commit needs an on-commit hook."""

from __future__ import annotations

from pathlib import Path

import pytest

import arame
from arame.testing import immediate


@pytest.fixture
def app(tmp_path: Path) -> arame.App:
    return arame.App("immediate", broker="memory://", results=f"sqlite:///{tmp_path}/results.db")


def test_an_immediate_app_runs_a_task_when_it_is_published_and_returns_a_ready_result(
    app: arame.App,
) -> None:
    app.immediate = True
    add = app.task(name="t.add")(lambda x, y: x + y)
    handle = add.delay(2, 3)
    assert handle.state == arame.SUCCESS and handle.get(timeout=0) == 5


def test_immediate_records_a_failure_after_running_every_retry(app: arame.App) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise ConnectionError("down")

    task = app.task(name="t.flaky", autoretry_for=(ConnectionError,), max_retries=2)(flaky)
    with immediate(app):
        handle = task.delay()
        assert handle.state == arame.FAILURE
        assert handle.row is not None and handle.row.attempts == 3
    assert len(calls) == 3


def test_immediate_runs_each_call_of_a_map_and_restores_the_app_after_the_block(app: arame.App) -> None:
    double = app.task(name="t.double")(lambda x: 2 * x)
    results_url = app.results_url
    with immediate(app):
        assert [h.get(timeout=0) for h in double.map([(1,), (2,)])] == [2, 4]
    assert (app.immediate, app.results_url) == (False, results_url)
    assert double.delay(4).state == arame.PENDING  # published for a worker again


def test_delay_on_commit_without_an_on_commit_hook_says_what_to_do(app: arame.App) -> None:
    task = app.task(name="t.noop")(lambda: None)
    with pytest.raises(arame.ConfigurationError, match="on_commit"):
        task.delay_on_commit()


def test_delay_on_commit_publishes_through_the_apps_hook(app: arame.App) -> None:
    pending: list[object] = []
    app.on_commit = pending.append
    task = app.task(name="t.later")(lambda: None)
    task.delay_on_commit()
    assert app.results.counts().get(arame.PENDING, 0) == 0
    pending.pop()()  # type: ignore[operator]
    assert app.results.counts()[arame.PENDING] == 1
