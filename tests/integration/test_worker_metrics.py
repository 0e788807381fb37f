"""A worker's /metrics endpoint (Redis broker, PostgreSQL results): thread pool and process pool."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import arame
from arame.metrics.worker_metrics import WorkerMetrics
from tests.integration.conftest import POSTGRES_URL, only_on

REDIS_URL = "redis://127.0.0.1:6379/15"
pytestmark = [pytest.mark.redis, pytest.mark.postgres, only_on(REDIS_URL, POSTGRES_URL, "redis-postgres")]

TASKS_MODULE = """
import os
import time

import arame

app = arame.App("metered")


@app.task(name="metered.add")
def add(x, y):
    return x + y


@app.task(name="metered.fail", max_retries=0)
def fail():
    raise ValueError("no")


@app.task(name="metered.nap")
def nap(seconds):
    time.sleep(seconds)
"""


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint, keyed by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_thread_pool_worker_counts_outcomes_and_times_them(queue: str) -> None:
    app = arame.App("metered", broker=REDIS_URL, results=POSTGRES_URL, default_queue=queue)
    add = app.task(name="metered.add", queue=queue)(lambda x, y: x + y)

    @app.task(name="metered.fail", queue=queue, max_retries=0)
    def fail() -> None:
        raise ValueError("no")

    results = [add.delay(i, i) for i in range(3)]
    failed = fail.delay()
    worker = app.worker([queue], 2, metrics_port=0)
    worker.start()
    try:
        assert [r.get(timeout=30) for r in results] == [0, 2, 4]
        failed.get(timeout=30, propagate=False)
        metrics = worker.settings.extensions.of_type(WorkerMetrics)
        assert metrics is not None
        port = metrics.port
        labels = {"task": "metered.add", "queue": queue}
        wait_for(lambda: value(scrape(port), "arame_tasks_total", **labels, state="SUCCESS") == 3)
        samples = scrape(port)
        assert value(samples, "arame_tasks_total", task="metered.fail", queue=queue, state="FAILURE") == 1
        assert value(samples, "arame_task_duration_seconds_count", **labels) == 3
        assert value(samples, "arame_task_wait_seconds_count", **labels) == 3
        assert 0 < value(samples, "arame_task_wait_seconds_sum", **labels) < 30
        assert value(samples, "arame_worker_slots_busy") == 0
        assert value(samples, "arame_worker_slots") == 2
    finally:
        worker.stop(10)
        app.close()
    with pytest.raises(OSError):
        scrape(port)  # the endpoint ends with the worker


def test_a_process_pool_worker_serves_its_childrens_counts_on_one_port(queue: str, tmp_path: Path) -> None:
    (tmp_path / "meteredmod.py").write_text(TASKS_MODULE)
    app = arame.App("producer", broker=REDIS_URL, results=POSTGRES_URL)
    add = app.task(name="metered.add", queue=queue)(lambda x, y: x + y)
    nap = app.task(name="metered.nap", queue=queue)(lambda seconds: None)
    port = free_port()
    env = {
        **os.environ,
        "ARAME_BROKER_URL": REDIS_URL,
        "ARAME_RESULTS_URL": POSTGRES_URL,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "arame", "worker", "meteredmod:app", "-Q", queue]
    options = ["--pool", "process", "-c", "2", "--metrics-port", str(port)]
    worker = subprocess.Popen([*command, *options], cwd=tmp_path, env=env, start_new_session=True)
    try:
        results = [add.delay(i, 1) for i in range(8)]
        assert [r.get(timeout=60) for r in results] == [i + 1 for i in range(8)]
        labels = {"task": "metered.add", "queue": queue, "state": "SUCCESS"}
        wait_for(lambda: value(scrape(port), "arame_tasks_total", **labels) == 8)
        assert value(scrape(port), "arame_worker_slots") == 2

        # A child killed in the middle of a task: its busy slot must not be counted forever.
        napping = nap.delay(60)
        wait_for(lambda: value(scrape(port), "arame_worker_slots_busy") == 1)
        row = app.results.read(napping.id)
        assert row is not None and row.worker is not None
        os.kill(int(row.worker.rsplit(":", 1)[1]), signal.SIGKILL)
        wait_for(lambda: value(scrape(port), "arame_worker_slots_busy") == 0)
        assert value(scrape(port), "arame_tasks_total", **labels) == 8  # the dead child's counts stay
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        app.close()
    assert worker.returncode == 0


def test_a_port_in_use_ends_the_worker_with_one_line(queue: str, tmp_path: Path) -> None:
    (tmp_path / "meteredmod.py").write_text(TASKS_MODULE)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = ["--pool", "thread", "--metrics-port", str(port), "--burst"]
        done = subprocess.run(
            [sys.executable, "-m", "arame", "worker", "meteredmod:app", "-Q", queue, *options],
            cwd=tmp_path,
            env={**os.environ, "ARAME_BROKER_URL": REDIS_URL, "ARAME_RESULTS_URL": POSTGRES_URL,
                 "PYTHONPATH": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
