"""The process pool ends a child for a hard time limit or a terminate, and goes on serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import arame

pytestmark = pytest.mark.processes

MODULE = """
import time
import arame

app = arame.App("limits", broker={broker!r}, results={results!r}, lease_seconds=1)

@app.task(time_limit=1)
def stuck() -> None:
    time.sleep(60)

@app.task
def forever() -> None:
    time.sleep(60)

@app.task
def add(x: int, y: int) -> int:
    return x + y

@app.task(time_limit=1, atomic=True)
def stuck_atomic() -> None:
    arame.connection().exec_driver_sql("INSERT INTO notes (text) VALUES ('undone')")
    time.sleep(60)
"""


@pytest.fixture
def limits(tmp_path: Path) -> Iterator[tuple[arame.App, Callable[[], subprocess.Popen[bytes]]]]:
    broker, results = f"sqlite:///{tmp_path}/broker.db", f"sqlite:///{tmp_path}/results.db"
    (tmp_path / "limitsmod.py").write_text(textwrap.dedent(MODULE.format(broker=broker, results=results)))
    app = arame.App("limits-test", broker=broker, results=results)
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "arame", "worker", "limitsmod:app", "-c", "1", "--pool", "process"]
        env = {**os.environ, "PYTHONPATH": str(tmp_path)}
        started.append(subprocess.Popen(command, cwd=tmp_path, env=env, start_new_session=True))
        return started[-1]

    yield app, start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    app.close()


def _wait_for(predicate: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_hard_time_limit_fails_the_task_and_the_child_is_replaced(limits) -> None:
    app, start = limits
    stuck = app.send_task(app_task(app, "stuck"))
    worker = start()
    _wait_for(lambda: stuck.state == arame.FAILURE, 30)
    assert stuck.row is not None and stuck.row.error_type == "arame.errors.TimeLimitExceeded"
    assert app.send_task(app_task(app, "add"), (2, 3)).get(timeout=30) == 5  # a new child serves
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_terminate_stops_a_running_task_and_the_child_is_replaced(limits) -> None:
    app, start = limits
    worker = start()
    forever = app.send_task(app_task(app, "forever"))
    _wait_for(lambda: forever.state == arame.STARTED, 30)
    assert forever.revoke(terminate=True)
    assert app.send_task(app_task(app, "add"), (4, 5)).get(timeout=30) == 9
    row = forever.row
    assert row is not None and (row.state, row.error_type) == (arame.REVOKED, "TaskTerminated")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def app_task(app: arame.App, name: str) -> str:
    """Declare a stand-in with the worker's task name, so this process can publish it."""
    full = f"limitsmod.{name}"
    if full not in app.tasks:
        app.task(name=full)(lambda *args: None)
    return full


def test_a_hard_time_limit_fails_an_atomic_task_holding_sqlites_write_lock_and_undoes_its_writes(
    limits,
) -> None:
    app, start = limits
    with app.results.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (text VARCHAR(20))")
    stuck = app.send_task(app_task(app, "stuck_atomic"))
    worker = start()
    # The child records the failure while its task holds the database's one write lock.
    _wait_for(lambda: stuck.state == arame.FAILURE, 20)
    assert stuck.row is not None and stuck.row.error_type == "arame.errors.TimeLimitExceeded"
    with app.results.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM notes").scalar() == 0
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
