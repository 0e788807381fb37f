"""Workflows flattened into messages and waiting steps, and the message field that links them."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

import arame
from arame.canvas.nodes import OPTIONS
from arame.canvas.plan import ALL, ERROR, ONE, build_plan
from arame.message import TaskMessage


@pytest.fixture
def app() -> arame.App:
    app = arame.App("plan", broker="memory://", results="sqlite://")

    @app.task(name="p.add", queue="maths")
    def add(x: int, y: int) -> int:
        return x + y

    return app


def route(name: str) -> tuple[str, int | None]:
    return "maths", None


def test_a_message_with_waiting_steps_round_trips_and_one_without_has_no_joins_field() -> None:
    linked = TaskMessage(id="a", task="t", joins=("b", "c"))
    plain = TaskMessage(id="a", task="t")

    assert TaskMessage.from_body(linked.to_body()).joins == ("b", "c")
    assert '"joins"' not in plain.to_body()
    assert TaskMessage.from_body('{"id": "a", "task": "t", "joins": "junk"}').joins == ()


def test_a_chain_publishes_its_first_step_and_each_next_step_waits_on_the_one_before(app):
    add = app.tasks["p.add"]
    flow = (add.s(1, 1) | add.s(2) | add.si(3, 3)).prepared((), {}, {})

    plan = build_plan(flow, route)

    first, second, third = (step.id for step in flow.tasks)  # type: ignore[attr-defined]
    assert [m.id for m in plan.roots] == [first] and plan.roots[0].joins == (second,)
    assert [(w.message.id, w.members, w.mode, w.immutable) for w in plan.waits] == [
        (second, (first,), ONE, False),
        (third, (second,), ONE, True),
    ]


def test_a_chord_body_waits_on_the_last_task_of_every_member_and_errbacks_on_failure(app):
    add = app.tasks["p.add"]
    member = add.s(1, 1)
    member.link_error(add.si(0, 0))
    flow = arame.chord([member, add.s(2, 2) | add.s(1)], add.s(0)).prepared((), {}, {})

    plan = build_plan(flow, route)

    waits = {w.message.id: w for w in plan.waits}
    body = waits[flow.body.id]  # type: ignore[attr-defined]
    assert body.mode == ALL and len(body.members) == 2
    assert sorted(w.mode for w in plan.waits) == sorted([ALL, ERROR, ONE])
    assert not next(w for w in plan.waits if w.mode == ERROR).placeholder


def test_signature_options_are_checked_and_set_returns_the_signature(app):
    signature = app.tasks["p.add"].s(1, 2)

    assert signature.set(queue="q", countdown=1, priority=3) is signature
    with pytest.raises(arame.ConfigurationError, match="unknown signature option"):
        signature.set(routing_key="x")
    assert repr(signature) == "p.add.s(1, 2)"


def test_signature_set_takes_the_timing_and_routing_options_of_apply_async_and_no_other():
    apply_async = inspect.signature(arame.Task.apply_async).parameters
    not_for_signatures = {"self", "args", "kwargs", "link", "link_error", "dedup_key", "dedup_for"}

    assert set(apply_async) - not_for_signatures == OPTIONS


@pytest.mark.parametrize(
    ("already", "options", "error"),
    [
        ({}, {"eta": datetime(2030, 1, 1)}, "aware datetime"),
        ({}, {"expires": datetime(2030, 1, 1)}, "aware datetime"),
        ({"countdown": 5}, {"eta": datetime.now(UTC)}, "countdown or eta, not both"),
        ({}, {"countdown": -1}, "countdown must be >= 0"),
        ({}, {"priority": 12}, "priority must be between 0"),
        ({}, {"link": None}, "use signature.link"),
        ({}, {"dedup_key": "k"}, "deduplication is not offered inside workflows"),
        ({}, {"routing_key": "x"}, "unknown signature option"),
    ],
)
def test_a_signature_refuses_an_option_apply_async_would_refuse_and_keeps_its_own(
    app, already, options, error
):
    signature = app.tasks["p.add"].s(1, 2).set(**already)
    before = dict(signature.options)

    with pytest.raises(arame.ConfigurationError, match=error):
        signature.set(**options)
    assert signature.options == before


def test_a_waiting_step_keeps_its_eta_and_expiry_moments_and_counts_a_relative_expiry_from_its_firing(app):
    add = app.tasks["p.add"]
    eta, deadline = datetime.now(UTC) + timedelta(hours=1), datetime.now(UTC) + timedelta(hours=2)
    flow = (add.s(1, 1) | add.s(2).set(eta=eta, expires=deadline) | add.s(3).set(expires=30)).prepared(
        (), {}, {}
    )

    plan = build_plan(flow, route)

    timed, relative = plan.waits
    assert (timed.message.eta, timed.message.expires, timed.expires_in) == (
        eta.timestamp(),
        deadline.timestamp(),
        None,
    )
    assert (relative.message.eta, relative.message.expires, relative.expires_in) == (None, None, 30.0)


def test_apply_async_with_link_and_an_option_a_workflow_does_not_take_says_so(app):
    add = app.tasks["p.add"]

    with pytest.raises(arame.ConfigurationError, match="dedup_key"):
        add.apply_async((1, 1), link=add.s(2), dedup_key="once")
