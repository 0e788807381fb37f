"""The dashboard's /metrics text, read from a real Redis broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import arame
from arame.metrics.dashboard import render
from arame.transport import Subscriber
from tests.cleanup import delete_queues

REDIS_URL = "redis://127.0.0.1:6379/15"


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


@pytest.fixture
def app(tmp_path) -> Iterator[arame.App]:
    queue = f"arame-test-{uuid.uuid4().hex}"
    app = arame.App("dash", broker=REDIS_URL, results=f"sqlite:///{tmp_path}/r.db", default_queue=queue)
    yield app
    app.close()
    delete_queues(REDIS_URL, [queue])


@pytest.mark.redis
def test_queue_depths_workers_and_paused_queues_are_exposed(app: arame.App) -> None:
    queue = app.default_queue
    add = app.task(name="dash.add", queue=queue)(lambda x, y: x + y)
    for i in range(4):
        add.delay(i, i)
    add.apply_async((9, 9), countdown=600)
    held = []
    subscriber = Subscriber(app.broker, [queue], 2, held.append)
    subscriber.open()
    try:
        while len(held) < 2:
            subscriber.drain(1.0)
        subscriber.dead_letter(held[1], "test: poison")
        subscriber.acknowledge([held[1]])
        subscriber.flush()

        text, content_type = render(app, workers=lambda: 3, paused=lambda: {queue})
    finally:
        subscriber.close()

    assert content_type.startswith("text/plain")
    found = samples(text)
    for kind, expected in {"ready": 2, "delayed": 1, "in_flight": 1, "dead": 1}.items():
        assert found[("arame_queue_messages", (("kind", kind), ("queue", queue)))] == expected, kind
    assert found[("arame_queue_paused", (("queue", queue),))] == 1
    assert found[("arame_workers", ())] == 3
    assert found[("arame_broker_up", ())] == 1


def test_a_broker_that_does_not_answer_reads_down_and_the_scrape_still_succeeds(tmp_path) -> None:
    app = arame.App("dash", broker="redis://127.0.0.1:1/0", results=f"sqlite:///{tmp_path}/r.db")
    text, _ = render(app)
    found = samples(text)
    assert found[("arame_broker_up", ())] == 0
    assert not any(name == "arame_queue_messages" for name, _ in found)
    assert ("arame_workers", ()) not in found
