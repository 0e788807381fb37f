"""execute(): one message in, one outcome out; no broker, no database."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from arame import states
from arame.consumers import execute
from arame.extensions import Extensions
from arame.message import TaskMessage
from arame.results import AsyncResult
from arame.task import Task, TaskOptions

WORKER = "host:1234"


class PaymentDeclined(Exception):
    """An exception type defined outside builtins."""


class NoSender:
    default_queue = "default"
    extensions = Extensions()

    def send(self, message: TaskMessage) -> AsyncResult:
        raise AssertionError("execute() must not publish")


def _task(fn: Callable[..., Any]) -> Task[Any, Any]:
    return Task(NoSender(), fn, TaskOptions(name=fn.__name__))


def _message(task: str, *args: Any, **kwargs: Any) -> TaskMessage:
    return TaskMessage(id="t-1", task=task, args=args, kwargs=kwargs, queue="q")


def test_a_task_that_returns_gives_a_success_outcome_with_its_result_as_json() -> None:
    def add(x: int, y: int) -> dict[str, int]:
        return {"sum": x + y}

    before = time.time()
    outcome = execute(_task(add), _message("add", 2, y=3), WORKER)
    assert outcome.state == states.SUCCESS
    assert json.loads(outcome.result_json or "") == {"sum": 5}
    assert (outcome.task_id, outcome.task_name, outcome.queue) == ("t-1", "add", "q")
    assert (outcome.attempts, outcome.worker) == (1, WORKER)
    assert outcome.error_type is None
    assert outcome.started_at is not None
    assert outcome.finished_at is not None
    assert before <= outcome.started_at <= outcome.finished_at


def test_a_task_returning_none_succeeds_with_json_null() -> None:
    def nothing() -> None:
        return None

    outcome = execute(_task(nothing), _message("nothing"), WORKER)
    assert (outcome.state, outcome.result_json) == (states.SUCCESS, "null")


def test_attempts_counts_this_start_on_top_of_earlier_ones() -> None:
    def ok() -> int:
        return 1

    message = TaskMessage(id="t-1", task="ok", attempt=2)
    assert execute(_task(ok), message, WORKER).attempts == 3


def test_a_task_that_raises_records_its_type_message_and_traceback() -> None:
    def explode() -> None:
        raise ValueError("the flux capacitor is empty")

    outcome = execute(_task(explode), _message("explode"), WORKER)
    assert outcome.state == states.FAILURE
    assert outcome.error_type == "ValueError"
    assert outcome.error_message == "the flux capacitor is empty"
    assert outcome.traceback is not None
    assert 'raise ValueError("the flux capacitor is empty")' in outcome.traceback
    assert "in explode" in outcome.traceback
    assert outcome.result_json is None
    assert outcome.started_at is not None


def test_an_exception_type_outside_builtins_is_recorded_with_its_module() -> None:
    def charge() -> None:
        raise PaymentDeclined("card 4242 declined")

    outcome = execute(_task(charge), _message("charge"), WORKER)
    assert outcome.error_type == f"{__name__}.PaymentDeclined"
    assert outcome.error_message == "card 4242 declined"


@pytest.mark.parametrize("value", [object(), {1, 2}, b"raw"], ids=["object", "set", "bytes"])
def test_a_result_that_is_not_json_gives_a_failure(value: object) -> None:
    def odd() -> object:
        return value

    outcome = execute(_task(odd), _message("odd"), WORKER)
    assert outcome.state == states.FAILURE
    assert outcome.error_type == "UnserializableResult"
    assert "not JSON-serialisable" in (outcome.error_message or "")
    assert outcome.result_json is None


def test_an_expired_message_is_revoked_without_calling_the_function() -> None:
    calls: list[str] = []

    def late() -> None:
        calls.append("ran")

    message = TaskMessage(id="t-1", task="late", expires=time.time() - 1)
    outcome = execute(_task(late), message, WORKER)
    assert outcome.state == states.REVOKED
    assert outcome.error_type == "TaskExpired"
    assert outcome.started_at is None
    assert calls == []


def test_a_message_that_expires_later_runs() -> None:
    def on_time() -> str:
        return "ran"

    message = TaskMessage(id="t-1", task="on_time", expires=time.time() + 60)
    outcome = execute(_task(on_time), message, WORKER)
    assert (outcome.state, outcome.result_json) == (states.SUCCESS, '"ran"')


def test_a_task_that_calls_sys_exit_gives_a_failure_outcome() -> None:
    def quits() -> None:
        sys.exit(3)

    outcome = execute(_task(quits), _message("quits"), WORKER)
    assert outcome.state == states.FAILURE
    assert outcome.error_type == "SystemExit"
