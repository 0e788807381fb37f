"""Workflows on every results database: chains, groups, chords, callbacks, nesting, failures and retries."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import arame
from arame.coordination.join_plans import join_of
from tests.integration.canvas_flow import TIMEOUT, Flow
from tests.integration.conftest import RESULTS_DATABASES, on_brokers

pytestmark = on_brokers(RESULTS_DATABASES)


def test_a_chain_passes_each_result_to_the_next_step(flow):
    with flow.worker():
        result = (flow.add.s(2, 2) | flow.mul.s(10) | flow.add.s(1)).apply_async()

        assert result.get(timeout=TIMEOUT) == 41


def test_arame_chain_and_an_immutable_step_ignore_what_came_before(flow):
    with flow.worker():
        result = arame.chain(flow.add.s(2, 2), flow.add.si(5, 5), flow.mul.s(3)).delay()

        assert result.get(timeout=TIMEOUT) == 30


def test_a_group_runs_in_parallel_and_returns_its_results_in_order(flow):
    with flow.worker():
        result = arame.group(flow.add.s(n, n) for n in range(5)).apply_async()

        assert isinstance(result, arame.GroupResult)
        assert result.get(timeout=TIMEOUT) == [0, 2, 4, 6, 8]
        assert result.ready() and result.completed_count() == 5
        assert [r.id for r in result.results] == [r.id for r in result] and result.id


def test_a_chord_body_runs_once_with_the_list_of_results(flow):
    with flow.worker():
        result = arame.chord([flow.add.s(n, 1) for n in range(4)], flow.total.s(extra=100)).apply_async()

        assert result.get(timeout=TIMEOUT) == 1 + 2 + 3 + 4 + 100
    join = join_of(flow.app.results, result.id)
    assert join is not None and join.fired and join.done == join.expected == 4


def test_signature_by_name_with_options_runs_on_the_queue_it_names(flow):
    with flow.worker():
        signature = arame.signature("flow.add", (1, 2), app=flow.app).set(queue=flow.queue, priority=5)
        result = (signature | flow.mul.s(2).set(countdown=0.1)).apply_async()

        assert result.get(timeout=TIMEOUT) == 6


def test_link_and_link_error_callbacks_run_after_apply_async(flow):
    with flow.worker():
        succeeded = flow.add.apply_async((1, 1), link=flow.mul.s(5))
        failed = flow.flaky.apply_async((1, "link-error"), link_error=flow.noted.s("errback"))

        assert succeeded.get(timeout=TIMEOUT) == 2
        with pytest.raises(arame.TaskFailed):
            failed.get(timeout=TIMEOUT)
        follow_up = join_after(flow, succeeded.id)
        assert flow.app.AsyncResult(follow_up).get(timeout=TIMEOUT) == 10
        errback = join_after(flow, failed.id)
        assert flow.app.AsyncResult(errback).get(timeout=TIMEOUT) == [failed.id, "errback"]


def test_nested_workflows_a_group_inside_a_chain_and_a_chain_inside_a_chord(flow):
    with flow.worker():
        fan_out = (
            flow.add.s(1, 1) | arame.group(flow.mul.s(2), flow.mul.s(3)) | flow.total.s()
        ).apply_async()
        chained_members = arame.chord(
            [flow.add.s(1, 1) | flow.mul.s(10), flow.add.s(2, 2) | flow.mul.s(10)], flow.total.s()
        ).apply_async()

        assert fan_out.get(timeout=TIMEOUT) == 2 * 2 + 2 * 3
        assert chained_members.get(timeout=TIMEOUT) == 20 + 40


def test_a_failed_chord_member_fails_the_chord_naming_it_and_a_retry_reruns_only_it(flow):
    members = [flow.add.s(1, 1), flow.flaky.s(5, "member"), flow.add.s(3, 3)]
    with flow.worker():
        result = arame.chord(members, flow.total.s()).apply_async()

        with pytest.raises(arame.TaskFailed) as caught:
            result.get(timeout=TIMEOUT)
        assert caught.value.remote_type == "ChordError"
        assert "flow.flaky" in caught.value.remote_message
        assert "ValueError: member fails on its first run" in caught.value.remote_message
        ids = list(join_of(flow.app.results, result.id).members)
        flow.app.AsyncResult(ids[2]).get(timeout=TIMEOUT)  # the chord failed without waiting for it
        assert [flow.app.AsyncResult(i).state for i in ids] == [arame.SUCCESS, arame.FAILURE, arame.SUCCESS]

        flow.app.retry(result.id)

        assert result.get(timeout=TIMEOUT) == 2 + 5 + 6
    assert flow.attempts == {"member": 2}
    assert [flow.app.results.read(i).attempts for i in ids] == [1, 2, 1]


def test_a_failed_chain_step_fails_the_steps_after_it_and_a_retry_resumes_there(flow):
    with flow.worker():
        result = (flow.add.s(1, 1) | flow.flaky.s("step") | flow.mul.s(10)).apply_async()

        with pytest.raises(arame.TaskFailed) as caught:
            result.get(timeout=TIMEOUT)
        assert caught.value.remote_type == "ChainError" and "flow.flaky" in caught.value.remote_message

        flow.app.retry(result.id)

        assert result.get(timeout=TIMEOUT) == 20
    assert flow.attempts == {"step": 2}


def join_after(flow: Flow, task_id: str) -> str:
    """The id of the (only) step waiting on ``task_id``."""
    message = flow.app.results.read(task_id).message
    assert message is not None and len(message.joins) == 1
    return message.joins[0]


def test_a_chord_body_whose_publish_is_lost_is_published_by_reconcile(private_flow, broker_kind):
    if broker_kind == "memory":
        pytest.skip("memory:// cannot tell reconcile what it holds (as in test_recovery)")
    flow = private_flow
    lost: list[str] = []
    flow.app.results.publish_fired = lambda messages: lost.extend(m.id for m in messages)  # as if lost
    with flow.worker():
        result = arame.chord([flow.add.s(1, 1), flow.add.s(2, 2)], flow.noted.s()).apply_async()
        wait_for(lambda: lost == [result.id])
    row = flow.app.results.read(result.id)
    assert row.state == arame.PENDING and row.message is not None and row.message.args == ([2, 4],)

    assert flow.app.reconcile(older_than=0) == [result.id]  # no consumer: RabbitMQ can tell it is lost

    with flow.worker():
        assert result.get(timeout=TIMEOUT) == [[2, 4]]
    assert flow.attempts == {"noted": 1}


def test_a_waiting_step_is_never_published_by_reconcile(private_flow):
    flow = private_flow
    result = (flow.add.s(1, 1) | flow.mul.s(3)).apply_async()  # no worker: the first step waits in the broker

    assert flow.app.reconcile(older_than=0) == []
    assert result.state == arame.PENDING and flow.app.results.read(result.id).message is None


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "still not true"
        time.sleep(0.02)
