"""Celery's spellings across processes: a worker process reports progress, a producer reads it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import arame
from tests.integration.conftest import RESULTS_DATABASES, on_brokers

pytestmark = on_brokers(RESULTS_DATABASES)

TASKS_MODULE = """
import os
import time

import arame

app = arame.App("celeryish")  # its URLs: $ARAME_BROKER_URL and $ARAME_RESULTS_URL


@app.task(name="reports.build", bind=True, queue=os.environ["REPORT_QUEUE"], acks_late=True)
def build(self, year, gate):
    self.update_state(state="PROGRESS", meta={"year": year, "done": 1, "worker": self.request.hostname})
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)  # stands for a report that takes minutes
    return {"year": year, "id": self.request.id}


@app.task(name="billing.total", queue=os.environ["REPORT_QUEUE"])
def total(amount, when):
    return {"amount": amount * 2, "day": when.date()}
"""


@pytest.fixture
def worker_env(
    broker_url: str, broker_kind: str, results_url: str, new_queue: Callable[[], str], tmp_path: Path
) -> Iterator[tuple[dict[str, str], str]]:
    if broker_kind == "memory":
        pytest.skip("memory:// queues live inside one process")
    (tmp_path / "celeryish.py").write_text(TASKS_MODULE)
    queue = new_queue()
    env = {
        **os.environ,
        "ARAME_BROKER_URL": broker_url,
        "ARAME_RESULTS_URL": results_url,
        "REPORT_QUEUE": queue,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
    }
    yield env, queue


def _start_worker(env: dict[str, str], queue: str, folder: Path, pool: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "arame", "worker", "celeryish:app", "-Q", queue, "-c", "2"]
    return subprocess.Popen(
        [*command, "--pool", pool], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_for(read: Callable[[], object], expected: object, within: float) -> object:
    deadline = time.monotonic() + within
    while (current := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return current


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_progress_written_by_a_worker_process_is_read_by_a_producer_that_declares_nothing(
    worker_env: tuple[dict[str, str], str], tmp_path: Path, pool: str
) -> None:
    env, queue = worker_env
    producer = arame.App("web", broker=env["ARAME_BROKER_URL"], results=env["ARAME_RESULTS_URL"])
    gate = tmp_path / f"gate-{uuid.uuid4().hex}"
    worker = _start_worker(env, queue, tmp_path, pool)
    try:
        # The web process has no task declared: it publishes by name, as a Celery producer does.
        handle = producer.send_task("reports.build", (2024, str(gate)), queue=queue)
        assert _wait_for(lambda: handle.status, "PROGRESS", within=60) == "PROGRESS"
        info = handle.info
        assert info["year"] == 2024 and info["done"] == 1 and ":" in info["worker"]
        assert not handle.ready() and handle.date_done is None
        gate.touch()
        assert handle.get(timeout=60) == {"year": 2024, "id": handle.id}
        assert handle.status == arame.SUCCESS and handle.date_done is not None
        handle.forget()
        assert handle.status == arame.UNKNOWN
    finally:
        worker.terminate()
        worker.wait(30)
        producer.close()


def test_decimal_and_datetime_arguments_and_results_round_trip_through_a_worker_process(
    worker_env: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, queue = worker_env
    producer = arame.App("web", broker=env["ARAME_BROKER_URL"], results=env["ARAME_RESULTS_URL"])
    worker = _start_worker(env, queue, tmp_path, "thread")
    try:
        when = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
        handle = producer.send_task("billing.total", (Decimal("10.05"), when), queue=queue)
        assert handle.get(timeout=60) == {"amount": Decimal("20.10"), "day": when.date()}
    finally:
        worker.terminate()
        worker.wait(30)
        producer.close()
