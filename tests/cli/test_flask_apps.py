"""``-A`` in a Flask project: the extension, the Flask app or the factory; tasks run in its context."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from arame.cli import cli
from tests.cli.conftest import WriteModule

#: The app-factory spelling: ``Arame()`` at import, ``init_app`` inside ``create_app()``.
FACTORY = """
from flask import Flask, current_app

from arame.flask import Arame

arame_ext = Arame()


@arame_ext.task(name="whoami")
def whoami() -> str:
    return current_app.config["SHOP_NAME"]  # needs the Flask app's context


def create_app() -> Flask:
    flask_app = Flask(__name__)
    flask_app.config["SHOP_NAME"] = "made by the factory"
    arame_ext.init_app(flask_app)
    return flask_app
"""

#: The direct spelling: ``Arame(flask_app)`` at import.
DIRECT = """
from flask import Flask, current_app

from arame.flask import Arame

{flask_name} = Flask(__name__)
{flask_name}.config["SHOP_NAME"] = "made at import"
arame_ext = Arame({flask_name})


@arame_ext.task(name="whoami")
def whoami() -> str:
    return current_app.config["SHOP_NAME"]
"""


def _invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), prog_name="arame")


def _run_whoami(runner: CliRunner, app_spec: str) -> str:
    """Send ``whoami`` and run a burst worker, both with ``-A app_spec``; return what it printed."""
    sent = _invoke(runner, "send", "-A", app_spec, "whoami")
    assert sent.exit_code == 0, sent.output
    worker = _invoke(runner, "worker", "-A", app_spec, "--burst", "-c", "1")
    assert worker.exit_code == 0, worker.output
    shown = _invoke(runner, "result", "-A", app_spec, sent.stdout.strip())
    assert shown.exit_code == 0, shown.output
    return shown.stdout


@pytest.mark.parametrize("attribute", ["", ":create_app", ":arame_ext"])
def test_a_worker_given_the_flask_factory_module_runs_tasks_inside_the_app_context(
    runner: CliRunner, write_module: WriteModule, attribute: str
) -> None:
    module = write_module(FACTORY)
    shown = _run_whoami(runner, module + attribute)
    assert "SUCCESS" in shown and "made by the factory" in shown


@pytest.mark.parametrize(("flask_name", "attribute"), [("app", ""), ("web", ""), ("web", ":arame_ext")])
def test_a_worker_given_a_flask_app_bound_at_import_runs_tasks_inside_its_context(
    runner: CliRunner, write_module: WriteModule, flask_name: str, attribute: str
) -> None:
    module = write_module(DIRECT.format(flask_name=flask_name))
    shown = _run_whoami(runner, module + attribute)
    assert "SUCCESS" in shown and "made at import" in shown


def test_an_extension_bound_to_no_flask_app_and_no_factory_is_one_line_error(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module("from arame.flask import Arame\n\narame_ext = Arame()\n")
    result = _invoke(runner, "worker", "-A", f"{module}:arame_ext", "--burst")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {module}: the arame extension is bound to no Flask app (init_app was never called): "
        f"give -A {module}:FACTORY, the function that calls init_app"
    )


def test_a_factory_that_fails_is_one_line_error_naming_it(
    runner: CliRunner, write_module: WriteModule
) -> None:
    module = write_module("def create_app():\n    raise RuntimeError('no config')\n")
    result = _invoke(runner, "worker", "-A", f"{module}:create_app", "--burst")
    assert result.exit_code == 1, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"Error: {module}:create_app() failed: RuntimeError: no config (at "), line
