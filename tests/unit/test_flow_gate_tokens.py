"""A task that waits for a concurrency slot spends no rate-limit token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import arame
from arame.coordination.flow_limits import LimitStore
from arame.extensions import Held
from arame.flow.limits_gate import FlowGate
from arame.message import TaskMessage
from arame.transport import Delivery


@pytest.fixture
def app(tmp_path: Path) -> Iterator[arame.App]:
    app = arame.App("tokens", broker="memory://", results=f"sqlite:///{tmp_path / 'results.db'}")
    yield app
    app.close()


def held(task: str, key: str, n: int) -> Held:
    message = TaskMessage(id=f"{key}-{n}", task=task, args=(key, n), queue="q")
    return message, Delivery(object(), "q")


def test_a_task_deferred_for_its_concurrency_slot_gives_its_rate_token_back(app: arame.App) -> None:
    @app.task(name="tokens.work", rate_limit="40/s", concurrency_limit=1, concurrency_key="key")
    def work(key: str, n: int) -> None: ...

    # A frozen clock: 40/s with a burst of 4 gives exactly four starts at this instant.
    gate = FlowGate(app.tasks, LimitStore(app.results), clock=lambda: 1_000_000.0)
    first = [held("tokens.work", "a", 0)]
    assert gate.admit(first) == (first, [])
    # Three more of key a: tokens are there, but a's one slot is taken, so all three wait.
    runnable, waiting = gate.admit([held("tokens.work", "a", n) for n in (1, 2, 3)])
    assert runnable == [] and len(waiting) == 3
    # Had they kept their tokens, none would be left for key b.
    others = [held("tokens.work", "b", n) for n in (0,)]
    assert gate.admit(others) == (others, [])
