"""Workflows whose tasks the worker refuses: they fail like a task that raised.

A refused chord member or chain step (no worker knows its name, its arguments do not fit, its
body is broken) fails its workflow, naming it; a retry reruns only what failed. A refused or
forged message counts only on the joins its own row names: it cannot fail another's chord.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import arame
from arame.coordination.join_plans import join_of
from arame.message import new_task_id
from arame.transport import list_dead
from tests.integration.canvas_flow import TIMEOUT, Flow
from tests.integration.conftest import FEATURE_BROKERS, on_brokers
from tests.integration.test_canvas import wait_for

pytestmark = on_brokers(FEATURE_BROKERS)

#: The error type each refusal leaves on the member's row and in the workflow's reason.
REFUSALS = {"unknown-task": "TaskNotRegistered", "bad-arguments": "InvalidArguments"}


def _later(flow: Flow, *args: int) -> arame.Signature:
    """A signature of ``flow.later``, a task this worker lacks or declares with one argument."""
    return arame.signature("flow.later", args, app=flow.app).set(queue=flow.queue)


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_refused_chord_member_and_chain_step_fail_their_workflows_and_a_retry_reruns_only_them(
    flow: Flow, kind: str
) -> None:
    if kind == "bad-arguments":

        @flow.app.task(name="flow.later", queue=flow.queue)
        def later(x: int) -> int:  # called with two arguments below: refused
            return x

    with flow.worker():
        chord = arame.chord([flow.add.s(1, 1), _later(flow, 4, 3), flow.add.s(3, 3)], flow.total.s()).delay()
        chain = (flow.add.s(1, 1) | _later(flow, 3) | flow.mul.s(10)).delay()

        for result, kind_of_join in [(chord, "ChordError"), (chain, "ChainError")]:
            with pytest.raises(arame.TaskFailed) as caught:
                result.get(timeout=TIMEOUT)
            assert caught.value.remote_type == kind_of_join
            assert "flow.later" in caught.value.remote_message
            assert REFUSALS[kind] in caught.value.remote_message
        members = list(join_of(flow.app.results, chord.id).members)
        # The chord fails on its refused member, maybe before the others have finished.
        for member in (members[0], members[2]):
            flow.app.AsyncResult(member).get(timeout=TIMEOUT)
        assert [flow.app.AsyncResult(m).state for m in members] == [
            arame.SUCCESS,
            arame.FAILURE,
            arame.SUCCESS,
        ]
        refused = flow.app.results.read(members[1])
        assert (refused.state, refused.error_type) == (arame.FAILURE, REFUSALS[kind])

    fixed = flow.sibling()  # the task deployed as the workflow expects it

    @fixed.app.task(name="flow.later", queue=flow.queue)
    def later_fixed(x: int, y: int) -> int:
        return 10 * x + y

    try:
        with fixed.worker():
            flow.app.retry(chord.id)
            flow.app.retry(chain.id)

            assert chord.get(timeout=TIMEOUT) == 2 + 43 + 6
            assert chain.get(timeout=TIMEOUT) == 230
    finally:
        fixed.app.close()
    assert [flow.app.results.read(m).attempts for m in members] == [1, 2, 1]


def test_a_dead_lettered_chord_member_requeued_once_a_worker_knows_it_lets_the_chord_fire(flow: Flow) -> None:
    chord = arame.chord([flow.add.s(1, 1), _later(flow, 4, 3)], flow.total.s()).delay()
    with flow.worker(), pytest.raises(arame.TaskFailed):
        chord.get(timeout=TIMEOUT)
    fixed = flow.sibling()

    @fixed.app.task(name="flow.later", queue=flow.queue)
    def later_fixed(x: int, y: int) -> int:
        return 10 * x + y

    try:
        with fixed.worker():
            assert flow.app.requeue_dead(flow.queue) == [join_of(flow.app.results, chord.id).members[1]]

            assert chord.get(timeout=TIMEOUT) == 2 + 43
    finally:
        fixed.app.close()


def test_a_chord_member_whose_body_is_broken_but_names_its_own_row_fails_the_chord(
    flow: Flow, new_queue: Callable[[], str]
) -> None:
    parked = new_queue()  # no worker reads it: the real message waits there
    chord = arame.chord([flow.add.s(1, 1), flow.add.s(2, 2).set(queue=parked)], flow.total.s()).delay()
    member = join_of(flow.app.results, chord.id).members[1]
    stored = flow.app.results.read(member).message
    assert stored is not None
    broken = json.loads(stored.to_body()) | {"args": "not a list"}
    flow.publish_raw(broken)

    with flow.worker(), pytest.raises(arame.TaskFailed) as caught:
        chord.get(timeout=TIMEOUT)

    assert caught.value.remote_type == "ChordError"
    assert "MalformedMessage" in caught.value.remote_message and member in caught.value.remote_message
    assert flow.app.results.read(member).error_type == "MalformedMessage"


def test_refused_and_forged_messages_that_name_a_chord_cannot_fail_it(
    flow: Flow, new_queue: Callable[[], str]
) -> None:
    parked = new_queue()  # the real members wait there while the forgeries are handled
    chord = arame.chord(
        [flow.add.s(1, 1).set(queue=parked), flow.add.s(2, 2).set(queue=parked)], flow.noted.s()
    ).delay()
    member = join_of(flow.app.results, chord.id).members[0]
    names_the_chord = {"v": 1, "args": [], "queue": flow.queue, "joins": [chord.id]}
    forgeries = [
        # A member's id, but not the creation time its publish wrote: its row is not this message's.
        names_the_chord | {"id": member, "task": "flow.nobody", "created": 1.0},
        # An id of its own: its row is its own, and its message never named the chord.
        names_the_chord | {"id": new_task_id(), "task": "flow.nobody"},
        # Runs and fails, but the chord does not wait on its id.
        names_the_chord | {"id": new_task_id(), "task": "flow.flaky", "args": [1, "forged"]},
    ]
    for body in forgeries:
        flow.publish_raw(body)

    with flow.worker():
        for body in forgeries[1:]:
            with pytest.raises(arame.TaskFailed):
                flow.app.AsyncResult(body["id"]).get(timeout=TIMEOUT)
        wait_for(lambda: len(list_dead(flow.app.broker, flow.queue)) == 2)
        assert flow.app.AsyncResult(member).state == arame.PENDING
        join = join_of(flow.app.results, chord.id)
        assert join is not None and (join.failed_member, join.done, join.fired) == (None, 0, False)
    with flow.worker(parked):
        assert chord.get(timeout=TIMEOUT) == [[2, 4]]


def test_an_unsigned_copy_of_a_chord_member_writes_nothing_when_signing_is_on(
    broker_url: str, results_url: str, new_queue: Callable[[], str]
) -> None:
    flow = Flow(broker_url, results_url, new_queue(), signing_keys={"k1": "secret"})
    parked = new_queue()
    try:
        chord = arame.chord([flow.add.s(1, 1).set(queue=parked), flow.add.s(2, 2)], flow.noted.s()).delay()
        member = join_of(flow.app.results, chord.id).members[0]
        stored = flow.app.results.read(member).message
        assert stored is not None
        flow.publish_raw(json.loads(stored.to_body()) | {"task": "flow.nobody"})  # unsigned, and refused

        with flow.worker():
            wait_for(lambda: len(list_dead(flow.app.broker, flow.queue)) == 1)
            assert flow.app.AsyncResult(member).state == arame.PENDING
        with flow.worker(parked):
            assert chord.get(timeout=TIMEOUT) == [[2, 4]]
    finally:
        flow.app.close()
