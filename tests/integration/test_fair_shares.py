"""Fair shares: tasks with a ``fair_key`` take turns per key value, on every broker, losing none."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

import arame
from arame.coordination import fair_queues as fair_registry
from arame.coordination.fair_queues import FairRegistry
from arame.subqueues import fair_parent, fair_queue

TIMEOUT = 60


@pytest.fixture
def app(broker_url: str, results_url: str) -> Iterator[arame.App]:
    app = arame.App("fair", broker=broker_url, results=results_url)
    yield app
    app.close()


def test_a_second_tenants_tasks_start_before_the_first_tenants_backlog_drains(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()
    lock = threading.Lock()
    order: list[str] = []
    runs: Counter[tuple[str, int]] = Counter()

    @app.task(name=f"fair.work.{queue}", queue=queue, fair_key="tenant")
    def work(tenant: str, n: int) -> int:
        with lock:
            order.append(tenant)
            runs[(tenant, n)] += 1
        time.sleep(0.005)
        return n

    backlog = work.map([("a", n) for n in range(500)])
    worker = app.worker([queue], 2)
    worker.start()
    try:
        while not order:  # the worker is busy with a's backlog before b publishes
            time.sleep(0.01)
        late = [work.delay("b", n) for n in range(5)]
        assert [h.get(timeout=TIMEOUT) for h in late] == list(range(5))
        a_before_b_done = order.count("a")
        assert [h.get(timeout=TIMEOUT) for h in backlog] == list(range(500))
    finally:
        worker.stop(timeout=TIMEOUT)
    # b's five ran in turn with a's backlog, not after it; every task ran exactly once.
    assert a_before_b_done < 400, f"{a_before_b_done} of a's 500 ran before b's 5 were done"
    assert runs == Counter({**{("a", n): 1 for n in range(500)}, **{("b", n): 1 for n in range(5)}})


def test_a_fair_sub_queue_is_kept_while_a_task_in_it_is_unfinished(
    app: arame.App, new_queue: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = new_queue()

    @app.task(name=f"fair.later.{queue}", queue=queue, fair_key="tenant")
    def later(tenant: str) -> str:
        return tenant

    monkeypatch.setattr(fair_registry, "FORGET_AFTER", -1.0)  # every registration counts as old
    handle = later.apply_async(("c",), countdown=1.5)
    sub = fair_queue(queue, "c")
    assert app.results.read(handle.id).queue == sub  # type: ignore[union-attr]
    # Delayed, it waits in the broker: its sub-queue looks empty but is not forgotten.
    assert FairRegistry.of(app.results).forget([sub]) == []
    assert FairRegistry.of(app.results).active([queue]) == {sub: queue}
    worker = app.worker([queue], 1)
    worker.start()
    try:
        assert handle.get(timeout=TIMEOUT) == "c"
    finally:
        worker.stop(timeout=TIMEOUT)
    # Finished: nothing needs the sub-queue any more.
    assert FairRegistry.of(app.results).forget([sub]) == [sub]
    assert FairRegistry.of(app.results).active([queue]) == {}


def test_a_fair_task_whose_key_cannot_be_read_stays_in_its_queue(
    app: arame.App, new_queue: Callable[[], str]
) -> None:
    queue = new_queue()

    @app.task(name=f"fair.keyless.{queue}", queue=queue, fair_key=lambda order: order["shop"])
    def ship(order: dict[str, str]) -> str:
        return order["id"]

    keyed, keyless = ship.delay({"shop": "one", "id": "1"}), ship.delay({"id": "2"})
    assert fair_parent(app.results.read(keyed.id).queue) == queue  # type: ignore[union-attr, arg-type]
    assert app.results.read(keyless.id).queue == queue  # type: ignore[union-attr]
    worker = app.worker([queue], 1)
    worker.start()
    try:
        assert [keyed.get(timeout=TIMEOUT), keyless.get(timeout=TIMEOUT)] == ["1", "2"]
    finally:
        worker.stop(timeout=TIMEOUT)
