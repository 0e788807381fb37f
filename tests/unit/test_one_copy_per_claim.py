"""Two copies of one task in one batch: one is claimed, the other goes back to the broker."""

from __future__ import annotations

from arame.consumers.admission import one_copy_each
from arame.message import TaskMessage
from arame.transport import Delivery


def test_a_second_copy_of_a_task_in_a_batch_goes_back_unclaimed() -> None:
    first = TaskMessage(id="a", task="t", queue="q")
    retried = TaskMessage(id="a", task="t", queue="q", copy="retried")
    other = TaskMessage(id="b", task="t", queue="q")
    batch = [(message, Delivery(object(), "q")) for message in (first, retried, other)]
    settled: list[tuple[Delivery, bool]] = []

    kept = one_copy_each(batch, lambda delivery, ack: settled.append((delivery, ack)))

    assert kept == [batch[0], batch[2]]
    assert settled == [(batch[1][1], False)]  # not acknowledged: it comes back, and its claim decides


def test_a_copy_id_travels_in_the_body_only_when_set() -> None:
    first = TaskMessage(id="a", task="t")
    assert '"copy"' not in first.to_body()
    assert TaskMessage.from_body(first.to_body()).copy is None
    again = TaskMessage(id="a", task="t", copy="c0ffee")
    assert TaskMessage.from_body(again.to_body()).copy == "c0ffee"
    assert TaskMessage.from_body({"id": "a", "task": "t", "copy": 7}).copy is None  # tolerant
