"""``arame status`` and ``arame workers`` show the app's own queues, rows and workers of a
results database shared with other apps; ``--all`` shows everything."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import arame
from arame.app import RESULTS_ENV
from arame.cli import cli
from arame.results.outbox_table import outbox
from tests.cli.conftest import WriteModule
from tests.integration.conftest import POSTGRES_URL, delete_result_rows

APP_SOURCE = """
import arame

app = arame.App({name!r}, default_queue={queue!r})


@app.task
def add(x: int, y: int) -> int:
    return x + y
"""


def _invoke(runner: CliRunner, *args: str) -> Result:
    result = runner.invoke(cli, list(args), prog_name="arame")
    assert result.exit_code == 0, result.output
    return result


def _pending(status_output: str) -> int:
    counts = dict(line.split() for line in status_output.split("results ", 1)[1].splitlines()[1:])
    return int(counts.get("PENDING", 0))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def shared_results(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """One results database for both apps: a SQLite file, or the shared PostgreSQL database
    (where other tests' rows live too)."""
    url = f"sqlite:///{tmp_path}/shared.db" if request.param == "sqlite" else POSTGRES_URL
    monkeypatch.setenv(RESULTS_ENV, url)
    return url


@pytest.fixture
def two_apps(shared_results: str, write_module: WriteModule) -> Iterator[tuple[str, str, str, str]]:
    """(shop module, its queue, other module, its queue): two apps on one results database."""
    shop_queue, other_queue = f"shop-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    shop = write_module(APP_SOURCE.format(name="shop", queue=shop_queue))
    other = write_module(APP_SOURCE.format(name="other", queue=other_queue))
    yield shop, shop_queue, other, other_queue
    for name in (shop, other):
        board = importlib.import_module(name).app.workers
        for info in board.list():
            if {shop_queue, other_queue} & set(info.queues):
                board.unregister(info.id)
    delete_result_rows(shared_results, [shop_queue, other_queue])


def _register(module: str, host: str) -> None:
    app: arame.App = importlib.import_module(module).app
    app.workers.register(
        uuid.uuid4().hex, host=host, pid=1, queues=app.queues(), pool="thread", concurrency=1
    )


def test_status_counts_only_the_apps_queues_unless_all(
    runner: CliRunner, two_apps: tuple[str, str, str, str]
) -> None:
    shop, shop_queue, other, other_queue = two_apps
    _invoke(runner, "send", "-A", shop, "add", "1", "2")
    for _ in range(3):
        _invoke(runner, "send", "-A", other, "add", "1", "2")

    own = _invoke(runner, "status", "-A", shop).stdout
    assert shop_queue in own and other_queue not in own
    assert _pending(own) == 1  # not the other app's 3, nor any other service's rows

    every = _invoke(runner, "status", "-A", shop, "--all").stdout
    assert shop_queue in every and other_queue in every
    assert _pending(every) >= 4


def test_workers_lists_only_the_workers_of_the_apps_queues_unless_all(
    runner: CliRunner, two_apps: tuple[str, str, str, str]
) -> None:
    shop, _shop_queue, other, _other_queue = two_apps
    _invoke(runner, "send", "-A", shop, "add", "1", "2")  # the results table exists
    _register(shop, "shop-host")
    _register(other, "other-host")

    own = _invoke(runner, "workers", "-A", shop)
    assert "shop-host:1" in own.stdout and "other-host" not in own.stdout
    assert "1 alive, 0 lost" in own.stderr

    every = _invoke(runner, "workers", "-A", shop, "--all").stdout
    assert "shop-host:1" in every and "other-host:1" in every


def test_status_counts_the_tasks_committed_but_not_yet_published(
    shared_results: str, write_module: WriteModule
) -> None:
    queue = f"shop-{uuid.uuid4().hex}"
    module = write_module(APP_SOURCE.format(name="shop", queue=queue))
    app = importlib.import_module(module).app
    caller = arame.App("caller", broker="redis://127.0.0.1:9/0", results=shared_results)  # nothing listens
    add = caller.task(name=app.tasks[f"{module}.add"].name, queue=queue)(lambda x, y: x + y)
    with caller.results.engine.begin() as conn, caller.transaction(conn):
        add.delay(1, 2)
    caller.close()
    shown = _invoke(CliRunner(), "status", module, "--results", shared_results).output
    assert "unpublished" in shown and shown.split("unpublished")[1].split()[0] == "1"
    delete_result_rows(shared_results, [queue])
    with app.results.transaction() as conn:
        conn.execute(outbox.delete().where(outbox.c.queue == queue))
    app.close()
