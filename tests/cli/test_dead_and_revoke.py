"""``arame dead``, ``arame revoke``, ``arame results prune`` and ``arame scheduler``, in-process."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from click.testing import CliRunner, Result

import arame
from arame.cli import cli
from arame.message import TaskMessage
from arame.testing import run_until_empty
from arame.transport import Publisher, list_dead, queue_sizes

WriteModule = Callable[..., str]


def _invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), prog_name="arame")


def _poisoned_app(write_module: WriteModule) -> tuple[str, arame.App]:
    name = write_module()
    app = importlib.import_module(name).app
    app.send(TaskMessage(id="unknown-1", task="nope", queue="default"))
    Publisher(app.broker).publish("not json at all", "default")
    run_until_empty(app)
    return name, app


def test_dead_list_shows_each_dead_letter_with_its_reason(
    runner: CliRunner, write_module: WriteModule
) -> None:
    name, _app = _poisoned_app(write_module)
    result = _invoke(runner, "dead", "list", name)
    assert result.exit_code == 0, result.output
    assert "unknown-1" in result.stdout and "TaskNotRegistered" in result.stdout
    assert "MalformedMessage" in result.stdout
    assert "2 dead letter(s)" in result.stderr


def test_dead_show_prints_the_body_and_the_reason(runner: CliRunner, write_module: WriteModule) -> None:
    name, _app = _poisoned_app(write_module)
    result = _invoke(runner, "dead", "show", name, "unknown-1")
    assert result.exit_code == 0, result.output
    assert "reason:       TaskNotRegistered" in result.stdout
    assert '"task":"nope"' in result.stdout
    missing = _invoke(runner, "dead", "show", name, "no-such-id")
    assert missing.exit_code == 1 and "no dead letter" in missing.stderr


def test_dead_requeue_puts_one_letter_back_in_its_queue(runner: CliRunner, write_module: WriteModule) -> None:
    name, app = _poisoned_app(write_module)
    result = _invoke(runner, "dead", "requeue", name, "--id", "unknown-1")
    assert result.exit_code == 0, result.output
    assert queue_sizes(app.broker, ["default"]) == {"default": 1}
    assert [letter.reason.split(":")[0] for letter in list_dead(app.broker, "default")] == [
        "MalformedMessage"
    ]


def test_dead_purge_empties_the_dead_letter_queues(runner: CliRunner, write_module: WriteModule) -> None:
    name, app = _poisoned_app(write_module)
    result = _invoke(runner, "dead", "purge", name, "--yes")
    assert result.exit_code == 0, result.output
    assert list_dead(app.broker, "default") == []


def test_revoke_marks_a_pending_task_and_refuses_a_finished_one(
    runner: CliRunner, write_module: WriteModule, results_url: str
) -> None:
    app = importlib.import_module(write_module()).app
    pending = app.tasks[next(n for n in app.tasks if n.endswith(".add"))].delay(1, 2)
    result = _invoke(runner, "revoke", pending.id, "--results", results_url)
    assert result.exit_code == 0 and "REVOKED" in result.stdout
    again = _invoke(runner, "revoke", pending.id, "--results", results_url)
    assert again.exit_code == 1 and "it is REVOKED" in again.stderr


def test_results_prune_deletes_finished_rows(runner: CliRunner, write_module: WriteModule) -> None:
    name = write_module()
    app = importlib.import_module(name).app
    done = app.tasks[next(n for n in app.tasks if n.endswith(".add"))].delay(1, 2)
    run_until_empty(app)
    result = _invoke(runner, "results", "prune", name, "--older-than", "0")
    assert result.exit_code == 0, result.output
    assert "1 finished row(s) deleted" in result.stdout
    assert done.state == arame.UNKNOWN


def test_scheduler_refuses_an_app_without_periodic_tasks(
    runner: CliRunner, write_module: WriteModule
) -> None:
    result = _invoke(runner, "scheduler", write_module())
    assert result.exit_code == 1 and "no periodic task" in result.stderr
