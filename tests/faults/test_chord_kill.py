"""A chord whose workers are SIGKILLed mid-way: its body still runs exactly once."""

from __future__ import annotations

import signal

import pytest

import arame
from tests.faults.helpers import SHORT_LEASE, Stack, Workers, wait_until

SLACK = 30.0


@pytest.mark.timeout(150)
def test_a_chord_whose_worker_is_killed_mid_way_runs_its_body_exactly_once(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    keys = [f"member-{n}" for n in range(8)]
    members = [stack.tasks.work.s(key, 0.2) for key in keys[:-1]]
    members.append(stack.tasks.work.s(keys[-1], 120.0, then=0.2))  # hangs on its first run only
    chord = arame.chord(members, stack.tasks.gather.s()).apply_async()
    doomed = workers.start(app_spec, pool="process", concurrency=2)
    wait_until(lambda: stack.runs.starts(keys[-1]), 30, "the hanging member started")

    doomed.kill()
    survivor = workers.start(app_spec, pool="process", concurrency=2)
    wait_until(lambda: stack.state(chord) == arame.SUCCESS, SHORT_LEASE + SLACK, "the chord's body succeeded")
    survivor.signal(signal.SIGTERM)
    assert survivor.wait(60) == 0, workers.logs()

    assert stack.row(chord).result == keys
    assert len(stack.runs.starts("gather")) == 1, stack.runs.all()
    assert len(stack.runs.starts(keys[-1])) == 2
    assert stack.ready_messages() == 0


@pytest.mark.timeout(150)
def test_repeated_sigkills_during_a_chord_run_its_body_once_with_every_result(
    stack: Stack, workers: Workers
) -> None:
    app_spec = stack.write_module(lease=SHORT_LEASE)
    keys = [f"m{n:02d}" for n in range(16)]
    chord = arame.chord([stack.tasks.work.s(key, 0.1) for key in keys], stack.tasks.gather.s()).apply_async()

    for _ in range(3):
        worker = workers.start(app_spec, concurrency=2)
        progress = len(stack.runs.counts("end"))
        wait_until(lambda p=progress: len(stack.runs.counts("end")) >= p + 3, 30, "the worker made progress")
        worker.kill()
    last = workers.start(app_spec, concurrency=2)
    wait_until(lambda: stack.state(chord) == arame.SUCCESS, SHORT_LEASE + SLACK, "the chord's body succeeded")
    last.signal(signal.SIGTERM)
    assert last.wait(60) == 0, workers.logs()

    assert stack.row(chord).result == keys
    assert len(stack.runs.starts("gather")) == 1, stack.runs.all()
    assert stack.ready_messages() == 0
