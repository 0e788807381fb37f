"""The real ``arame worker`` command, in its own process, on every broker shared across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import arame

TASKS_MODULE = """
import time

import arame

app = arame.App("tasksmod")  # its URLs: $ARAME_BROKER_URL and $ARAME_RESULTS_URL, or --broker / --results


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.fail")
def fail(message):
    raise RuntimeError(message)


@app.task(name="tasks.nap")
def nap(seconds):
    time.sleep(seconds)  # stands for a task that takes a while
    return seconds
"""

WORKER_TIMEOUT = 90


class Deployment:
    """A tasks module in a folder, a producer app in this process, and a queue of their own."""

    def __init__(self, folder: Path, broker_url: str, results_url: str, queue: str) -> None:
        (folder / "tasksmod.py").write_text(TASKS_MODULE)
        self.folder, self.queue = folder, queue
        self.env = {
            **os.environ,
            "ARAME_BROKER_URL": broker_url,
            "ARAME_RESULTS_URL": results_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
        }
        self.app = arame.App("producer", broker=broker_url, results=results_url)
        # Stand-ins with the worker's task names: this process only publishes them.
        self.add = self.app.task(name="tasks.add", queue=queue)(lambda x, y: x + y)
        self.fail = self.app.task(name="tasks.fail", queue=queue)(lambda message: None)
        self.nap = self.app.task(name="tasks.nap", queue=queue)(lambda seconds: seconds)

    def command(self, *options: str) -> list[str]:
        return [sys.executable, "-m", "arame", "worker", "tasksmod:app", "-Q", self.queue, *options]

    @contextmanager
    def worker(self, *options: str) -> Iterator[subprocess.Popen[str]]:
        """Start ``arame worker`` in its own process group; kill the group if it outlives the block."""
        with open(self.folder / "worker.log", "w") as log:
            process = subprocess.Popen(
                self.command(*options),
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def log(self) -> str:
        return (self.folder / "worker.log").read_text()


@pytest.fixture
def deployment(
    broker_url: str, broker_kind: str, results_url: str, new_queue: Callable[[], str], tmp_path: Path
) -> Iterator[Deployment]:
    if broker_kind == "memory":
        pytest.skip("memory:// queues live inside one process")
    deployment = Deployment(tmp_path, broker_url, results_url, new_queue())
    yield deployment
    deployment.app.close()


def wait_for_state(handle: arame.AsyncResult, state: str, within: float) -> str:
    """Poll the row until it reads ``state`` or ``within`` seconds ran out; return the last state."""
    deadline = time.monotonic() + within
    while (current := handle.state) != state and time.monotonic() < deadline:
        time.sleep(0.02)
    return current


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_a_burst_worker_process_runs_every_task_then_exits_0(deployment, pool):
    sums = [deployment.add.delay(n, 10) for n in range(8)]
    failures = [deployment.fail.delay(f"bad {n}") for n in range(2)]

    with deployment.worker("--burst", "-c", "2", "--pool", pool) as worker:
        exit_code = worker.wait(WORKER_TIMEOUT)

    assert exit_code == 0, deployment.log()
    assert [r.state for r in sums] == [arame.SUCCESS] * 8
    assert [r.result for r in sums] == [n + 10 for n in range(8)]
    for n, failed in enumerate(failures):
        with pytest.raises(arame.TaskFailed) as caught:
            failed.get(timeout=0)
        assert (caught.value.remote_type, caught.value.remote_message) == ("RuntimeError", f"bad {n}")
        assert "tasksmod.py" in caught.value.remote_traceback
    assert arame.transport.queue_sizes(deployment.app.broker, [deployment.queue]) == {deployment.queue: 0}


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_a_worker_process_finishes_its_running_task_on_sigterm_and_exits_0(deployment, pool):
    napping = deployment.nap.delay(1.0)

    with deployment.worker("-c", "2", "--pool", pool) as worker:
        assert wait_for_state(napping, arame.STARTED, within=60) == arame.STARTED, deployment.log()
        worker.send_signal(signal.SIGTERM)
        exit_code = worker.wait(WORKER_TIMEOUT)

    assert exit_code == 0, deployment.log()
    row = napping.row
    assert (row.state, row.result, row.attempts) == (arame.SUCCESS, 1.0, 1)
    assert arame.transport.queue_sizes(deployment.app.broker, [deployment.queue]) == {deployment.queue: 0}


def test_a_worker_process_takes_its_urls_from_the_command_line(deployment):
    result = deployment.add.delay(20, 22)
    del deployment.env["ARAME_BROKER_URL"], deployment.env["ARAME_RESULTS_URL"]
    options = ["--burst", "--broker", deployment.app.broker_url, "--results", deployment.app.results_url]

    with deployment.worker(*options, "--loglevel", "WARNING") as worker:
        exit_code = worker.wait(WORKER_TIMEOUT)

    assert exit_code == 0, deployment.log()
    assert result.get(timeout=0) == 42
    assert not (deployment.folder / "arame.db").exists(), "the worker used the embedded default"
