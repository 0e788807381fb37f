"""``arame workers``, ``arame pause``, ``arame resume`` and the paused mark in ``arame status``."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from click.testing import CliRunner, Result

from arame.cli import cli

WriteModule = Callable[..., str]


def _invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), prog_name="arame")


def test_pause_and_resume_are_rows_that_status_shows(runner: CliRunner, write_module: WriteModule) -> None:
    name = write_module()
    app = importlib.import_module(name).app
    app.results.counts()  # the results database exists

    paused = _invoke(runner, "pause", "-A", name, "default")
    assert paused.exit_code == 0, paused.output
    assert paused.output.strip() == "default: paused"
    assert app.workers.pauses.paused().keys() == {"default"}
    assert "(it already was)" in _invoke(runner, "pause", "-A", name, "default").output

    status = _invoke(runner, "status", "-A", name)
    assert status.exit_code == 0, status.output
    assert next(line for line in status.output.splitlines() if "default" in line).endswith("paused")

    resumed = _invoke(runner, "resume", "-A", name, "default")
    assert resumed.output.strip() == "default: resumed"
    assert app.workers.pauses.paused() == {}
    assert not any(
        line.endswith("paused") for line in _invoke(runner, "status", "-A", name).output.splitlines()
    )


def test_workers_lists_a_running_worker_and_forgets_it_once_stopped(
    runner: CliRunner, write_module: WriteModule
) -> None:
    name = write_module()
    app = importlib.import_module(name).app
    worker = app.worker(["default"], 3)
    worker.start()
    try:
        listed = _invoke(runner, "workers", "-A", name)
        deadline = time.monotonic() + 10
        while "1 alive" not in listed.output and time.monotonic() < deadline:
            time.sleep(0.02)  # the heartbeat thread registers right after start
            listed = _invoke(runner, "workers", "-A", name)
        assert listed.exit_code == 0, listed.output
        assert "alive  pool=thread concurrency=3 queues=default" in listed.output
        assert "1 alive, 0 lost" in listed.output
    finally:
        worker.stop(10)
    assert "0 alive, 0 lost" in _invoke(runner, "workers", "-A", name).output
