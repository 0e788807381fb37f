"""``arame status`` on the real brokers: ready, delayed, in flight and dead per queue."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import arame
from arame.cli import cli
from arame.transport import Delivery, Subscriber
from tests.cleanup import delete_queues

BROKERS = [
    pytest.param("redis://127.0.0.1:6379/15", "0", id="redis", marks=pytest.mark.redis),
    pytest.param("postgresql://127.0.0.1/test", "0", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql://root@127.0.0.1/test", "0", id="mysql", marks=pytest.mark.mysql),
    pytest.param("sqlite:///{tmp}/broker.db", "0", id="sqlite"),
    # RabbitMQ counts unacknowledged and delayed messages only in its management API.
    pytest.param("amqp://guest:guest@127.0.0.1:5672//", "?", id="amqp", marks=pytest.mark.rabbitmq),
]


@pytest.fixture
def queue_app(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A tasks module on ``request.param``'s broker with a queue of its own; yields its name."""
    broker = request.param.format(tmp=tmp_path)
    queue = f"status-{uuid.uuid4().hex[:12]}"
    name = f"status_tasks_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "import arame\n\n"
        f"app = arame.App(broker={broker!r}, results={f'sqlite:///{tmp_path}/results.db'!r}, "
        f"default_queue={queue!r})\n\n\n@app.task\ndef add(x, y):\n    return x + y\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    module = sys.modules.pop(name, None)
    if module is not None:
        module.app.close()
    delete_queues(broker, [queue])


@pytest.mark.parametrize(("queue_app", "unknown"), BROKERS, indirect=["queue_app"])
def test_status_counts_ready_delayed_in_flight_and_dead_messages(queue_app: str, unknown: str) -> None:
    app: arame.App = __import__(queue_app).app
    queue = app.default_queue
    add = app.tasks[f"{queue_app}.add"]
    for n in range(3):
        add.delay(n, n)
    add.apply_async((9, 9), countdown=600)
    held: list[Delivery] = []
    subscriber = Subscriber(app.broker, [queue], 1, held.append)
    subscriber.open()
    try:
        while not held:
            subscriber.drain(1.0)
        result = CliRunner().invoke(cli, ["status", "-A", queue_app], prog_name="arame")
    finally:
        subscriber.close()
    assert result.exit_code == 0, result.output
    delayed, in_flight = ("?", "?") if unknown == "?" else ("1", "1")
    row = rf"^\s+{re.escape(queue)}\s+2\s+{re.escape(delayed)}\s+{re.escape(in_flight)}\s+0$"
    assert re.search(row, result.output, re.MULTILINE), result.output
