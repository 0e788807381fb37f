"""Celery's order, ``arame -A proj.tasks worker -l INFO``: the app given before the command."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from arame.app import BROKER_ENV, RESULTS_ENV
from arame.cli import cli
from tests.cli.conftest import WriteModule

TASKS = """
import arame

app = arame.App("celery-order")


@app.task
def add(x: int, y: int) -> int:
    return x + y
"""


def _arame(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``arame ARGS`` in a fresh process, in ``tmp_path``, on a SQLite broker and results file."""
    env = {
        **os.environ,
        BROKER_ENV: f"sqlite:///{tmp_path / 'broker.db'}",
        RESULTS_ENV: f"sqlite:///{tmp_path / 'results.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "arame", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dash_a_before_the_command_sends_runs_and_reads_as_after_it(tmp_path: Path) -> None:
    (tmp_path / "proj_tasks.py").write_text(textwrap.dedent(TASKS))
    sent = _arame(tmp_path, "-A", "proj_tasks", "send", "add", "2", "3")
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip()
    worked = _arame(tmp_path, "-A", "proj_tasks", "worker", "-l", "INFO", "--burst", "--pool", "thread")
    assert worked.returncode == 0, worked.stderr
    read = _arame(tmp_path, "--app", "proj_tasks", "result", task_id)
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith(f"{task_id}: SUCCESS")
    assert "5" in read.stdout


def test_dash_a_before_a_group_reaches_its_subcommand(runner: CliRunner, write_module: WriteModule) -> None:
    module = write_module()
    listed = runner.invoke(cli, ["-A", module, "dead", "list"], prog_name="arame")
    assert listed.exit_code == 0, listed.output
    assert "0 dead letter(s)" in listed.output


def test_dash_a_twice_or_on_a_command_without_an_app_is_one_clear_error(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module()
    twice = runner.invoke(cli, ["-A", module, "status", "-A", "other"], prog_name="arame")
    assert twice.exit_code == 2
    assert "give the app once" in twice.stderr
    demo = runner.invoke(cli, ["-A", module, "demo"], prog_name="arame")
    assert demo.exit_code == 2
    assert "arame demo reads no app: drop -A/--app" in demo.stderr


def test_an_include_module_that_does_not_import_is_one_clear_error(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module('import arame\napp = arame.App("inc", include=["no_such_tasks_module"])\n')
    done = runner.invoke(cli, ["-A", module, "worker", "--burst", "--pool", "thread"], prog_name="arame")
    assert done.exit_code == 1
    assert done.stderr.strip().splitlines() == [
        "Error: could not import 'no_such_tasks_module' (App include=): "
        "ModuleNotFoundError: No module named 'no_such_tasks_module'"
    ]
