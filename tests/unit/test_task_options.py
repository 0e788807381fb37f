"""Declaring tasks and publishing them: names, options, and the checks on both."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

import arame
from arame.message import TaskMessage
from arame.results import AsyncResult
from arame.task import Task, TaskOptions
from arame.transport import queue_sizes


class CapturingSender:
    """A stand-in for the App: keeps the messages a task would publish."""

    default_queue = "default"

    def __init__(self) -> None:
        self.sent: list[TaskMessage] = []

    def send(self, message: TaskMessage) -> AsyncResult:
        self.sent.append(message)
        return AsyncResult(message.id, None)  # type: ignore[arg-type]


def _task(**options: object) -> tuple[Task[..., int], CapturingSender]:
    sender = CapturingSender()

    def add(x: int, y: int) -> int:
        return x + y

    return Task(sender, add, TaskOptions(name="t.add", **options)), sender  # type: ignore[arg-type]


def test_a_bare_decorator_declares_a_task_named_after_its_module_and_qualname(app: arame.App) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert isinstance(add, arame.Task)
    this_test = test_a_bare_decorator_declares_a_task_named_after_its_module_and_qualname.__name__
    assert add.name == f"{__name__}.{this_test}.<locals>.add"
    assert app.tasks[add.name] is add
    assert add.queue == app.default_queue


def test_a_decorator_with_options_declares_a_task_with_those_options(app: arame.App) -> None:
    @app.task(queue="emails", priority=7, max_retries=5, retry_backoff=True, time_limit=30)
    def send_email(address: str) -> None:
        return None

    assert send_email.queue == "emails"
    assert send_email.options.priority == 7
    assert send_email.options.max_retries == 5
    assert send_email.options.retry_backoff is True
    assert send_email.options.time_limit == 30
    assert send_email.name.endswith(".send_email")
    assert "emails" in app.queues()


def test_the_name_option_sets_the_registered_name(app: arame.App) -> None:
    @app.task(name="emails.thank_you")
    def thank_you() -> None:
        return None

    assert thank_you.name == "emails.thank_you"
    assert app.tasks["emails.thank_you"] is thank_you


def test_a_task_keeps_the_name_and_docstring_of_its_function(app: arame.App) -> None:
    @app.task
    def documented() -> None:
        """Does nothing, documented."""

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Does nothing, documented."


def test_an_unknown_option_is_refused(app: arame.App) -> None:
    with pytest.raises(arame.ConfigurationError, match="colour"):

        @app.task(colour="blue")
        def painted() -> None:
            return None


def test_an_unknown_option_is_named_and_the_valid_ones_are_listed(app: arame.App) -> None:
    with pytest.raises(arame.ConfigurationError) as caught:

        @app.task(max_retry=5)
        def misspelt() -> None:
            return None

    message = str(caught.value)
    assert "unknown option max_retry" in message
    assert "unexpected keyword" not in message
    for option in ("queue", "priority", "max_retries", "retry_backoff", "autoretry_for", "time_limit"):
        assert option in message


@pytest.mark.parametrize(
    ("args", "kwargs", "complaint"),
    [
        ((1,), {}, "missing a required argument: 'y'"),
        ((1, 2, 3), {}, "too many positional arguments"),
        ((1, 2), {"z": 3}, "unexpected keyword argument 'z'"),
        ((1,), {"x": 2}, "multiple values for argument 'x'"),
    ],
)
def test_delay_and_apply_async_refuse_arguments_that_do_not_fit_and_publish_nothing(
    args: tuple[int, ...], kwargs: dict[str, int], complaint: str
) -> None:
    add, sender = _task()
    with pytest.raises(TypeError, match=complaint):
        add.delay(*args, **kwargs)
    with pytest.raises(TypeError, match=r"^t\.add\(x: .+, y: .+\)"):
        add.apply_async(args, kwargs)
    assert sender.sent == []


def _shapes(x: int, y: int = 0, *rest: int, scale: int = 1) -> int:
    return x + y + sum(rest) * scale


def _keyword_needed(x: int, *, unit: str) -> str:
    return f"{x}{unit}"


@pytest.mark.parametrize(
    ("fn", "args", "kwargs"),
    [
        (_shapes, (), {}),
        (_shapes, (1,), {"nope": 2}),
        (_keyword_needed, (1,), {}),
        (_keyword_needed, (1, 2), {"unit": "s"}),
    ],
)
def test_arguments_a_plain_call_would_refuse_are_refused_whatever_the_signature_s_shape(
    fn: Callable[..., object], args: tuple[int, ...], kwargs: dict[str, object]
) -> None:
    task = Task(CapturingSender(), fn, TaskOptions(name="t.shapes"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fn(*args, **kwargs)
    with pytest.raises(TypeError, match=r"^t\.shapes\("):
        task.check_arguments(args, kwargs)


@pytest.mark.parametrize(
    ("fn", "args", "kwargs"),
    [
        (_shapes, (1,), {}),
        (_shapes, (1, 2, 3, 4, 5), {}),
        (_shapes, (1,), {"scale": 2}),
        (_keyword_needed, (1,), {"unit": "s"}),
    ],
)
def test_arguments_a_plain_call_would_take_are_taken_whatever_the_signature_s_shape(
    fn: Callable[..., object], args: tuple[int, ...], kwargs: dict[str, object]
) -> None:
    task = Task(CapturingSender(), fn, TaskOptions(name="t.shapes"))  # type: ignore[arg-type]
    fn(*args, **kwargs)
    task.check_arguments(args, kwargs)


def test_map_refuses_a_call_whose_arguments_do_not_fit_before_publishing_any(app: arame.App) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(TypeError, match="missing a required argument"):
        add.map([(1, 2), (3,)])
    assert queue_sizes(app.broker, [app.default_queue]) == {app.default_queue: 0}


@pytest.mark.parametrize("priority", [-1, 10, 100])
def test_a_priority_outside_zero_to_nine_is_refused_at_declaration(app: arame.App, priority: int) -> None:
    with pytest.raises(arame.ConfigurationError, match=r"between 0 \(lowest\) and 9 \(highest\)"):

        @app.task(priority=priority)
        def urgent() -> None:
            return None


@pytest.mark.parametrize(
    "options",
    [{"max_retries": -1}, {"time_limit": 0}, {"soft_time_limit": -5}],
    ids=["negative max_retries", "zero time_limit", "negative soft_time_limit"],
)
def test_invalid_option_values_are_refused_at_declaration(app: arame.App, options: dict[str, object]) -> None:
    with pytest.raises(arame.ConfigurationError):
        app.task(**options)(lambda: None)


@pytest.mark.parametrize("priority", [-1, 10])
def test_a_priority_outside_zero_to_nine_is_refused_at_apply_async_and_nothing_is_published(
    app: arame.App, priority: int
) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(arame.ConfigurationError):
        add.apply_async((1, 2), priority=priority)
    assert queue_sizes(app.broker, [app.default_queue]) == {app.default_queue: 0}
    assert app.results.counts() == {}


def test_a_naive_eta_is_refused() -> None:
    add, sender = _task()
    with pytest.raises(arame.ConfigurationError, match="aware datetime"):
        add.apply_async((1, 2), eta=datetime.now() + timedelta(seconds=10))
    assert sender.sent == []


def test_an_aware_eta_becomes_the_message_eta() -> None:
    add, sender = _task()
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    add.apply_async((1, 2), eta=when)
    assert sender.sent[0].eta == when.timestamp()


def test_countdown_and_eta_together_are_refused() -> None:
    add, sender = _task()
    with pytest.raises(arame.ConfigurationError, match="not both"):
        add.apply_async((1, 2), countdown=5, eta=datetime.now(UTC) + timedelta(seconds=5))
    assert sender.sent == []


def test_a_negative_countdown_is_refused() -> None:
    add, _ = _task()
    with pytest.raises(arame.ConfigurationError, match="countdown"):
        add.apply_async((1, 2), countdown=-1)


def test_a_countdown_sets_the_eta_that_many_seconds_from_now() -> None:
    add, sender = _task()
    before = time.time()
    add.apply_async((1, 2), countdown=30)
    after = time.time()
    eta = sender.sent[0].eta
    assert eta is not None
    assert before + 30 <= eta <= after + 30


def test_a_naive_expiry_datetime_is_refused() -> None:
    add, _ = _task()
    with pytest.raises(arame.ConfigurationError, match="aware datetime"):
        add.apply_async((1, 2), expires=datetime.now() + timedelta(seconds=10))


def test_expires_as_seconds_or_timedelta_is_counted_from_now() -> None:
    add, sender = _task()
    before = time.time()
    add.apply_async((1, 2), expires=60)
    add.apply_async((1, 2), expires=timedelta(minutes=1))
    after = time.time()
    for message in sender.sent:
        assert message.expires is not None
        assert before + 60 <= message.expires <= after + 60


def test_apply_async_builds_the_message_from_its_arguments_and_options() -> None:
    add, sender = _task(queue="math", priority=3)
    add.apply_async([1], {"y": 2}, task_id="my-id")
    (message,) = sender.sent
    assert (message.id, message.task, message.args, message.kwargs) == ("my-id", "t.add", (1,), {"y": 2})
    assert (message.queue, message.priority, message.attempt) == ("math", 3, 0)


def test_apply_async_options_override_the_task_options() -> None:
    add, sender = _task(queue="math", priority=3)
    add.apply_async((1, 2), queue="urgent", priority=9)
    assert (sender.sent[0].queue, sender.sent[0].priority) == ("urgent", 9)


def test_delay_publishes_its_positional_and_keyword_arguments() -> None:
    add, sender = _task()
    add.delay(1, y=2)
    assert (sender.sent[0].args, sender.sent[0].kwargs) == ((1,), {"y": 2})


def test_each_delay_gets_a_fresh_task_id() -> None:
    add, sender = _task()
    first, second = add.delay(1, 2), add.delay(1, 2)
    assert first.id != second.id
    assert [m.id for m in sender.sent] == [first.id, second.id]


def test_a_plain_call_runs_in_process_and_publishes_nothing(app: arame.App) -> None:
    calls: list[tuple[int, int]] = []

    @app.task
    def add(x: int, y: int) -> int:
        calls.append((x, y))
        return x + y

    assert add(2, 3) == 5
    assert calls == [(2, 3)]
    assert queue_sizes(app.broker, [app.default_queue]) == {app.default_queue: 0}
    assert app.results.counts() == {}
