"""``arame dead requeue``, ``arame retry`` and ``arame reconcile``, in-process."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

import arame
from arame.app import BROKER_ENV
from arame.cli import cli
from arame.message import TaskMessage
from arame.testing import run_until_empty
from arame.transport.sql.messages_table import messages

WriteModule = Callable[..., str]

FLAKY_SOURCE = """
import arame

app = arame.App("cli-recovery")
calls = []


@app.task(max_retries=0)
def flaky(x: int) -> int:
    calls.append(x)
    if len(calls) == 1:
        raise RuntimeError("first call fails")
    return x + 1
"""


def _invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), prog_name="arame")


def _one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for fragment in fragments:
        assert fragment in lines[0]


def test_dead_requeue_makes_the_task_run_once_its_worker_knows_it(
    runner: CliRunner, write_module: WriteModule
) -> None:
    name = write_module()
    app = importlib.import_module(name).app
    app.send(TaskMessage(id="late-1", task="later.add", args=(2, 3), queue="default"))
    run_until_empty(app)  # no such task yet: dead-lettered, the row FAILURE
    assert app.AsyncResult("late-1").state == arame.FAILURE

    app.task(name="later.add")(lambda x, y: x + y)  # the fix is deployed
    result = _invoke(runner, "dead", "requeue", name, "--id", "late-1")
    assert result.exit_code == 0, result.output
    run_until_empty(app)

    assert app.AsyncResult("late-1").get(timeout=5) == 5


def test_retry_runs_a_failed_task_again_and_refuses_a_successful_one(
    runner: CliRunner, write_module: WriteModule
) -> None:
    name = write_module(FLAKY_SOURCE)
    module = importlib.import_module(name)
    sent = module.flaky.delay(1)
    run_until_empty(module.app)
    assert sent.state == arame.FAILURE

    result = _invoke(runner, "retry", "-A", name, sent.id)
    assert result.exit_code == 0, result.output
    run_until_empty(module.app)

    assert sent.get(timeout=5) == 2 and module.calls == [1, 1]
    _one_error_line(_invoke(runner, "retry", "-A", name, sent.id), sent.id, "SUCCESS")


def test_retry_reads_the_app_from_the_environment_and_refuses_an_unknown_id(
    runner: CliRunner, write_module: WriteModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = write_module()
    monkeypatch.setenv("ARAME_APP", name)
    importlib.import_module(name).app.results.counts()  # the database exists, the id does not
    _one_error_line(_invoke(runner, "retry", "no-such-id"), "no task no-such-id")


def test_reconcile_publishes_again_what_the_broker_lost(
    runner: CliRunner, write_module: WriteModule, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broker = f"sqlite:///{tmp_path}/broker.db"
    monkeypatch.setenv(BROKER_ENV, broker)
    name = write_module()
    module = importlib.import_module(name)
    sent = module.add.delay(20, 22)
    engine = sa.create_engine(broker)
    with engine.begin() as conn:
        conn.execute(messages.delete())  # as a broker restarted without its data
    engine.dispose()

    result = _invoke(runner, "reconcile", "-A", name, "--older-than", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [sent.id]
    run_until_empty(module.app)

    assert sent.get(timeout=5) == 42
