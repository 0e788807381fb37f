"""The ``arame`` command line, run in-process with click's CliRunner."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import arame
from arame.app import BROKER_ENV, RESULTS_ENV
from arame.cli import cli
from arame.testing import run_until_empty
from arame.transport import queue_sizes

UNREACHABLE_REDIS = "redis://:secret@127.0.0.1:1/0"
#: The ``write_module`` fixture: writes a tasks module, returns its (fresh) name.
WriteModule = Callable[..., str]


def _invoke(runner: CliRunner, *args: str, input: str | None = None) -> Result:  # noqa: A002
    return runner.invoke(cli, list(args), input=input, prog_name="arame")


def _assert_one_line_error(result: Result, exit_code: int, *fragments: str) -> str:
    """The command failed with ``exit_code``, no traceback, and ends with one ``Error:`` line."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "nothing was printed on stderr"
    assert lines[-1].startswith("Error: "), lines
    if exit_code == 1:
        assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[-1]
    return lines[-1]


def _app_of(module: str) -> arame.App:
    app = importlib.import_module(module).app
    assert isinstance(app, arame.App)
    return app


def _send(runner: CliRunner, module: str, *args: str) -> str:
    result = _invoke(runner, "send", module, *args)
    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", task_id), result.stdout
    return task_id


def _state(results_url: str, task_id: str) -> str:
    app = arame.App(broker="memory://", results=results_url)
    try:
        return app.AsyncResult(task_id).state
    finally:
        app.close()


# -- help and demo -------------------------------------------------------------------------------


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = _invoke(runner, "--help")
    assert result.exit_code == 0
    for command in ("worker", "send", "result", "status", "purge", "demo"):
        assert re.search(rf"^\s+{command}\s", result.output, re.MULTILINE), command


def test_the_demo_runs_the_whole_pipeline_on_the_embedded_default(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BROKER_ENV, raising=False)
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    # In an empty working directory of its own (click 8.5 deprecates runner.isolated_filesystem).
    directory = tmp_path / "demo"
    directory.mkdir()
    monkeypatch.chdir(directory)
    result = _invoke(runner, "demo", "-n", "30", "-c", "2")
    assert result.exit_code == 0, result.output
    assert re.search(r"^SUCCESS\s+29$", result.output, re.MULTILINE), result.output
    assert re.search(r"^FAILURE\s+1$", result.output, re.MULTILINE), result.output
    database = Path(os.getcwd()) / "arame.db"
    assert re.search(rf"^database\s+{re.escape(str(database))}$", result.output, re.MULTILINE), result.output
    assert database.exists()


# -- send, worker, result ------------------------------------------------------------------------


def test_send_prints_the_task_id_and_records_it_pending(
    runner: CliRunner, write_module: WriteModule, results_url: str
) -> None:
    module = write_module()
    task_id = _send(runner, module, "add", "1", "2")
    assert _state(results_url, task_id) == arame.PENDING
    assert queue_sizes(_app_of(module).broker, ["default"]) == {"default": 1}


def test_send_finds_a_task_by_its_full_name_too(runner: CliRunner, write_module: WriteModule) -> None:
    module = write_module()
    _send(runner, module, f"{module}.add", "1", "2")


def test_result_prints_the_value_of_a_task_a_worker_ran(runner: CliRunner, write_module: WriteModule) -> None:
    module = write_module()
    task_id = _send(runner, module, "add", "1", "2", "--kwargs", "{}")
    run_until_empty(_app_of(module))
    result = _invoke(runner, "result", task_id)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{task_id}: SUCCESS  task={module}.add")
    assert lines[-1] == "3"


def test_result_shows_the_worker_when_it_started_and_finished_and_the_run_time(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    task_id = _send(runner, module, "add", "1", "2")
    pending = _invoke(runner, "result", task_id)
    assert pending.stdout.splitlines()[1] == "worker=- started=- finished=- runtime=-"
    run_until_empty(_app_of(module))
    result = _invoke(runner, "result", task_id)
    assert result.exit_code == 0, result.output
    timings = result.stdout.splitlines()[1]
    assert re.fullmatch(
        r"worker=\S+:\d+ started=\d{4}-\d\d-\d\dT\S+ finished=\d{4}-\d\d-\d\dT\S+ runtime=\d+\.\d{3}s",
        timings,
    ), timings


def test_result_prints_the_error_and_traceback_of_a_failed_task(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    task_id = _send(runner, module, "fail", "card declined")
    run_until_empty(_app_of(module))
    result = _invoke(runner, "result", task_id)
    assert result.exit_code == 0, result.output
    assert f"{task_id}: FAILURE" in result.stdout
    assert "ValueError: card declined" in result.stdout
    assert "raise ValueError(message)" in result.stdout


def test_a_burst_worker_runs_what_was_sent_and_exits_zero(
    runner: CliRunner, write_module: WriteModule, results_url: str
) -> None:
    module = write_module()
    task_id = _send(runner, module, "add", "2", "3")
    result = _invoke(runner, "worker", module, "--burst", "-c", "1")
    assert result.exit_code == 0, result.output
    assert "arame worker: memory://" in result.stderr
    assert _state(results_url, task_id) == arame.SUCCESS


def test_send_wait_without_a_worker_gives_up_after_its_timeout(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    result = _invoke(runner, "send", module, "add", "1", "2", "--wait", "--timeout", "0.1")
    _assert_one_line_error(result, 1, "did not finish", "PENDING")
    assert re.fullmatch(r"[0-9a-f]{32}\n", result.stdout)


def test_result_of_an_unknown_id_says_unknown(runner: CliRunner, write_module: WriteModule) -> None:
    _send(runner, write_module(), "add", "1", "2")  # the results database exists
    result = _invoke(runner, "result", "never-published")
    _assert_one_line_error(result, 1, "never-published: UNKNOWN")


# -- status and purge ----------------------------------------------------------------------------


def test_status_prints_queue_depths_and_state_counts(runner: CliRunner, write_module: WriteModule) -> None:
    module = write_module()
    _send(runner, module, "add", "1", "2")
    _send(runner, module, "add", "3", "4")
    _send(runner, module, "add", "5", "6", "--countdown", "600")
    result = _invoke(runner, "status", module)
    assert result.exit_code == 0, result.output
    assert re.search(r"^broker\s+memory://$", result.output, re.MULTILINE)
    assert re.search(r"^\s+queue\s+ready\s+delayed\s+in flight\s+dead$", result.output, re.MULTILINE)
    # memory:// keeps unacknowledged messages per channel: it cannot say how many are in flight.
    assert re.search(r"^\s+default\s+2\s+1\s+\?\s+0$", result.output, re.MULTILINE), result.output
    assert re.search(r"^\s+PENDING\s+3$", result.output, re.MULTILINE), result.output


def test_purge_yes_empties_a_queue(runner: CliRunner, write_module: WriteModule) -> None:
    module = write_module()
    _send(runner, module, "add", "1", "2")
    _send(runner, module, "add", "3", "4")
    result = _invoke(runner, "purge", module, "-Q", "default", "--yes")
    assert result.exit_code == 0, result.output
    assert "default: 2 message(s) deleted" in result.output
    assert queue_sizes(_app_of(module).broker, ["default"]) == {"default": 0}


def test_purge_without_yes_asks_first_and_keeps_the_messages_when_told_no(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    _send(runner, module, "add", "1", "2")
    result = _invoke(runner, "purge", module, "-Q", "default", input="n\n")
    assert result.exit_code == 1
    assert "Delete every ready message of default" in result.output
    assert queue_sizes(_app_of(module).broker, ["default"]) == {"default": 1}


# -- errors a user can cause ---------------------------------------------------------------------


def test_an_unknown_module_is_one_line_error(runner: CliRunner, write_module: WriteModule) -> None:
    write_module()
    result = _invoke(runner, "send", "no_such_module_q7x", "add", "1", "2")
    _assert_one_line_error(result, 1, "no module named 'no_such_module_q7x'")


def test_a_module_that_fails_to_import_is_one_line_error(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module("raise RuntimeError('boom at import')\n")
    result = _invoke(runner, "send", module, "add")
    _assert_one_line_error(result, 1, f"could not import '{module}'", "RuntimeError: boom at import")


def test_a_module_without_an_app_is_one_line_error(runner: CliRunner, write_module: WriteModule) -> None:
    module = write_module("import arame\n")
    result = _invoke(runner, "send", module, "add")
    line = _assert_one_line_error(result, 1, f"'{module}' has no arame.App named 'app'")
    assert "use " not in line


def test_a_module_with_its_app_under_another_name_gets_a_hint_and_works_with_it(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module(
        """
        import arame

        application = arame.App("other-name")


        @application.task
        def add(x: int, y: int) -> int:
            return x + y
        """
    )
    result = _invoke(runner, "send", module, "add", "1", "2")
    _assert_one_line_error(result, 1, f"use {module}:application")
    _send(runner, f"{module}:application", "add", "1", "2")


def test_an_unknown_task_is_one_line_error_listing_the_known_ones(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    result = _invoke(runner, "send", module, "multiply", "1", "2")
    _assert_one_line_error(result, 1, "no task named 'multiply'", f"{module}.add")


def test_the_wrong_number_of_arguments_is_a_usage_error(
    runner: CliRunner, write_module: WriteModule, results_url: str
) -> None:
    module = write_module()
    result = _invoke(runner, "send", module, "add", "1")
    _assert_one_line_error(result, 2, "arguments do not fit", "'y'")
    assert _app_of(module).results.counts() == {}


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [("{x", "not JSON"), ("[1, 2]", "must be a JSON object")],
    ids=["not JSON", "not an object"],
)
def test_bad_kwargs_json_is_a_usage_error(
    runner: CliRunner, write_module: WriteModule, kwargs: str, says: str
) -> None:
    module = write_module()
    result = _invoke(runner, "send", module, "add", "1", "2", "--kwargs", kwargs)
    _assert_one_line_error(result, 2, "--kwargs", says)


def test_a_bad_broker_scheme_is_one_line_error_without_the_password(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    result = _invoke(runner, "send", module, "add", "1", "2", "--broker", "redsi://u:secret@h:6379/0")
    _assert_one_line_error(result, 1, "did you mean redis://")
    assert "secret" not in result.output


def test_send_to_an_unreachable_broker_is_one_line_error_and_leaves_no_row(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    result = _invoke(runner, "send", module, "add", "1", "2", "--broker", UNREACHABLE_REDIS)
    _assert_one_line_error(result, 1, "was not published", "redis://:***@127.0.0.1:1/0")
    assert "secret" not in result.output
    assert _app_of(module).results.counts() == {}


def test_a_worker_on_an_unreachable_broker_is_one_line_error(
    runner: CliRunner, write_module: WriteModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = write_module()
    monkeypatch.setenv(BROKER_ENV, UNREACHABLE_REDIS)
    result = _invoke(runner, "worker", module, "-c", "1")
    _assert_one_line_error(result, 1, "cannot reach the broker redis://:***@127.0.0.1:1/0")
    assert "secret" not in result.output
