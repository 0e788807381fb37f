"""``-A/--app`` and ``$ARAME_APP`` on every command that reads an app; reads create no database."""

from __future__ import annotations

import importlib
import json
import logging
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import arame
from arame.app import RESULTS_ENV
from arame.cli import cli
from arame.cli.loading import APP_ENV
from arame.cli.logs import JsonFormatter
from arame.testing import run_until_empty
from tests.cli.conftest import WriteModule


def _invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), prog_name="arame", input="y\n")


def _sent(runner: CliRunner, *args: str) -> str:
    result = _invoke(runner, "send", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_result_and_revoke_with_dash_a_read_the_apps_results_database_not_a_stray_file(
    runner: CliRunner, write_module: WriteModule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = write_module()
    task_id = _sent(runner, "-A", module, "add", "1", "2")
    # As a user would run it: no results URL in the environment, only the app.
    monkeypatch.delenv(RESULTS_ENV)
    shown = _invoke(runner, "result", "-A", module, task_id)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"{task_id}: PENDING")
    revoked = _invoke(runner, "revoke", task_id, "--app", module)
    assert revoked.exit_code == 0, revoked.output
    assert importlib.import_module(module).app.AsyncResult(task_id).state == arame.REVOKED
    assert not (tmp_path / "arame.db").exists()


def test_result_without_an_app_reports_the_missing_database_and_creates_none(
    runner: CliRunner, write_module: WriteModule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module()
    monkeypatch.delenv(RESULTS_ENV)
    for command in (["result", "abc"], ["revoke", "abc"]):
        result = _invoke(runner, *command)
        assert result.exit_code == 1, result.output
        assert f"no results database at {tmp_path / 'arame.db'}" in result.stderr
    assert not (tmp_path / "arame.db").exists()


def test_status_dead_list_and_prune_on_a_fresh_sqlite_app_create_no_file(
    runner: CliRunner, write_module: WriteModule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = write_module()
    monkeypatch.setenv("ARAME_BROKER_URL", f"sqlite:///{tmp_path}/broker.db")
    monkeypatch.setenv(RESULTS_ENV, f"sqlite:///{tmp_path}/fresh.db")
    for command in (["dead", "list"], ["results", "prune"], ["purge", "-Q", "default", "--yes"]):
        result = _invoke(runner, *command, "-A", module)
        assert result.exit_code == 1, (command, result.output)
        assert "no broker database at" in result.stderr or "no results database at" in result.stderr
        assert "nothing was recorded there yet" in result.stderr, result.stderr  # the app was given
    status = _invoke(runner, "status", "-A", module)
    assert status.exit_code == 0, status.output
    assert "nothing published yet" in status.stdout
    assert sorted(os.listdir(tmp_path)) == [f"{module}.py"] or not list(tmp_path.glob("*.db"))


@pytest.mark.parametrize("how", ["dash-a", "env"])
def test_every_command_that_reads_an_app_takes_it_from_dash_a_or_arame_app(
    runner: CliRunner, write_module: WriteModule, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    module = write_module()
    app_args = ["-A", module] if how == "dash-a" else []
    if how == "env":
        monkeypatch.setenv(APP_ENV, module)
    task_id = _sent(runner, *app_args, "fail", "boom")
    run_until_empty(importlib.import_module(module).app)
    commands = [
        ["status"],
        ["result", task_id],
        ["revoke", task_id],
        ["dead", "list"],
        ["dead", "purge", "--yes"],
        ["dead", "requeue"],
        ["results", "prune", "--older-than", "0"],
        ["purge", "-Q", "default", "--yes"],
    ]
    for command in commands:
        result = _invoke(runner, *command, *app_args)
        wanted = 1 if command[0] == "revoke" else 0  # a finished task is not revoked
        assert result.exit_code == wanted, (command, result.output)
        assert "Usage" not in result.output, (command, result.output)
    shown = _invoke(runner, "dead", "show", *app_args, "no-such-id")
    assert "no dead letter with task id no-such-id" in shown.stderr


def test_a_positional_module_still_works_and_wins_over_arame_app(
    runner: CliRunner, write_module: WriteModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = write_module()
    monkeypatch.setenv(APP_ENV, "no_such_module_from_env")
    task_id = _sent(runner, module, "add", "2", "3")
    assert _invoke(runner, "status", module).exit_code == 0
    assert _invoke(runner, "dead", "list", module).exit_code == 0
    worker = _invoke(runner, "worker", module, "--burst", "-c", "1")
    assert worker.exit_code == 0, worker.output
    assert importlib.import_module(module).app.AsyncResult(task_id).get(timeout=5) == 5


def test_send_with_arame_app_takes_the_first_word_as_the_task(
    runner: CliRunner, write_module: WriteModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = write_module()
    monkeypatch.setenv(APP_ENV, module)
    task_id = _sent(runner, "add", "2", "3", "--countdown", "0")
    assert importlib.import_module(module).app.AsyncResult(task_id).state == arame.PENDING


def test_the_app_given_twice_differently_is_a_usage_error(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    result = _invoke(runner, "status", "-A", module, "other_module")
    assert result.exit_code == 2
    assert "give the app once" in result.output


def test_no_app_at_all_is_a_usage_error_naming_dash_a_and_arame_app(runner: CliRunner) -> None:
    result = _invoke(runner, "status")
    assert result.exit_code == 2
    assert "-A MODULE[:ATTR]" in result.output and APP_ENV in result.output


# -- logging and import errors -------------------------------------------------------------------


def _import_error_line(runner: CliRunner, module: str) -> str:
    """The one line ``arame status -A module`` fails with."""
    result = _invoke(runner, "status", "-A", module)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_module_with_a_syntax_error_names_the_file_and_line(
    runner: CliRunner, write_module: WriteModule, tmp_path: Path
) -> None:
    module = write_module("import arame\n\napp = arame.App()\nx = (\n")
    assert f"{tmp_path / module}.py:4" in _import_error_line(runner, module)


def test_an_exception_at_import_names_the_users_line_and_traceback_shows_the_chain(
    runner: CliRunner, write_module: WriteModule, tmp_path: Path
) -> None:
    module = write_module("import json\n\nCONFIG = json.loads('{not json')\n")
    line = _import_error_line(runner, module)
    assert "JSONDecodeError" in line
    assert f"(at {tmp_path / module}.py:3)" in line
    for flags in (["--traceback", "status", "-A", module], ["status", "-A", module, "--traceback"]):
        traced = _invoke(runner, *flags)
        assert traced.exit_code == 1
        assert "Traceback (most recent call last)" in traced.stderr
        assert "json.decoder.JSONDecodeError" in traced.stderr
        assert "The above exception was the direct cause" in traced.stderr
        assert traced.stderr.splitlines()[-1].startswith("Error: could not import")


def test_a_burst_worker_logs_json_lines_at_the_level_of_dash_l(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    _sent(runner, "-A", module, "add", "1", "2")
    try:
        result = _invoke(
            runner, "worker", "-A", module, "--burst", "-c", "1", "-l", "info", "--log-format", "json"
        )
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        assert records, result.stderr
        assert not [line for line in result.stderr.splitlines() if line[:1].isdigit()]  # no text lines
        for record in records:
            assert {"time", "level", "logger", "message"} <= set(record)
            assert record["level"] in {"INFO", "WARNING", "ERROR"}
        quiet = _invoke(
            runner, "worker", "-A", module, "--burst", "-c", "1", "-l", "error", "--log-format", "json"
        )
        assert not [line for line in quiet.stderr.splitlines() if line.startswith("{")], quiet.stderr
    finally:
        logging.basicConfig(force=True)


def test_a_json_log_line_carries_the_records_extra_fields() -> None:
    record = logging.LogRecord("arame.x", logging.INFO, __file__, 1, "ran %s", ("add",), None)
    record.task_id = "abc"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "ran add"
    assert entry["task_id"] == "abc"
    assert entry["level"] == "INFO" and entry["logger"] == "arame.x"
