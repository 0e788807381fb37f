"""``arame reconcile`` right after a Redis restarted empty: what it publishes, and what it says
of the rows too young to judge."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from arame.app import BROKER_ENV
from arame.cli import cli
from arame.results.results_table import results
from tests.cli.conftest import WriteModule
from tests.integration.test_redis_transport import PrivateRedis

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of this test's own without persistence: a restart empties it."""
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    yield server
    server.stop()


def _reconcile(runner: CliRunner, *args: str) -> Result:
    result = runner.invoke(cli, ["reconcile", *args], prog_name="arame")
    assert result.exit_code == 0, result.output
    return result


def _age_rows(results_url: str, ids: list[str], seconds: float) -> None:
    """Make rows look ``seconds`` old, as if the broker had restarted that long after they were sent."""
    engine = sa.create_engine(results_url)
    with engine.begin() as conn:
        then = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=seconds)
        conn.execute(results.update().where(results.c.id.in_(ids)).values(created_at=then))
    engine.dispose()


def test_reconcile_after_an_empty_restart_publishes_the_lost_and_counts_the_young(
    runner: CliRunner,
    write_module: WriteModule,
    monkeypatch: pytest.MonkeyPatch,
    private_redis: PrivateRedis,
    results_url: str,
) -> None:
    monkeypatch.setenv(BROKER_ENV, f"redis://127.0.0.1:{private_redis.port}/0")
    name = write_module()
    app = importlib.import_module(name).app
    older = [app.tasks[f"{name}.add"].delay(1, i).id for i in range(3)]
    young = [app.tasks[f"{name}.add"].delay(2, i).id for i in range(2)]
    _age_rows(results_url, older, 60)  # a minute old: far below the old 300 s default
    app.close()
    private_redis.stop()
    private_redis.start()  # empty: no persistence

    done = _reconcile(runner, "-A", name)
    assert sorted(done.stdout.split()) == sorted(older)
    assert "3 lost task(s) published again" in done.stderr
    assert re.search(
        r"2 PENDING row\(s\) younger than \d+ s not judged; run again or pass --older-than 0", done.stderr
    )

    everything = _reconcile(runner, "-A", name, "--older-than", "0")
    assert sorted(everything.stdout.split()) == sorted(young)  # the older ones are held now
    assert "0 PENDING row(s) younger than 0 s not judged" in everything.stderr
