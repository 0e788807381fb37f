"""A worker whose broker is down or refuses it exits at once with one line, on every broker.

These run the real ``arame worker`` in a subprocess against the real servers: a worker that
retried instead would hit the timeout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arame.app import BROKER_ENV, RESULTS_ENV

pytestmark = pytest.mark.processes

TASKS = "import arame\n\napp = arame.App('checks')\n\n\n@app.task\ndef add(x, y):\n    return x + y\n"

REFUSED = [
    pytest.param(
        "mysql://root:wrong-secret@127.0.0.1:3306/test", "Access denied", id="mysql", marks=pytest.mark.mysql
    ),
    # The shared PostgreSQL trusts every login: a role that does not exist is its refusal.
    pytest.param(
        "postgresql://no_such_role_arame:wrong-secret@127.0.0.1:5432/test",
        'role "no_such_role_arame" does not exist',
        id="postgres",
        marks=pytest.mark.postgres,
    ),
    # A password alone is ignored by a Redis without one (redis-py drops that error); a user
    # with a wrong password is refused.
    pytest.param(
        "redis://nobody:wrong-secret@127.0.0.1:6379/15",
        "invalid username-password",
        id="redis",
        marks=pytest.mark.redis,
    ),
    pytest.param(
        "amqp://guest:wrong-secret@127.0.0.1:5672//", "ACCESS_REFUSED", id="amqp", marks=pytest.mark.rabbitmq
    ),
]

UNREACHABLE = [
    pytest.param("mysql://root:wrong-secret@127.0.0.1:1/test", id="mysql"),
    pytest.param("postgresql://u:wrong-secret@127.0.0.1:1/test", id="postgres"),
    pytest.param("postgresql://u@127.0.0.1:1/test?password=wrong-secret", id="postgres-password-parameter"),
    pytest.param("redis://:wrong-secret@127.0.0.1:1/0", id="redis"),
    pytest.param("amqp://guest:wrong-secret@127.0.0.1:1//", id="amqp"),
    pytest.param("sqlite:////nonexistent-dir-arame/broker.db", id="sqlite"),
]


def _run_worker(tmp_path: Path, broker: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "checked_tasks.py").write_text(TASKS)
    env = {BROKER_ENV: broker, RESULTS_ENV: f"sqlite:///{tmp_path}/results.db", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "arame", "worker", "-A", "checked_tasks", "-c", "1", "--pool", "thread"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _assert_one_line_exit_1(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: cannot reach the broker "), lines
    assert "wrong-secret" not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(("broker", "reason"), REFUSED)
def test_a_worker_whose_broker_refuses_the_login_exits_1_with_one_line(
    tmp_path: Path, broker: str, reason: str
) -> None:
    _assert_one_line_exit_1(_run_worker(tmp_path, broker), reason)


@pytest.mark.parametrize("broker", UNREACHABLE)
def test_a_worker_whose_broker_cannot_be_reached_exits_1_with_one_line(tmp_path: Path, broker: str) -> None:
    _assert_one_line_exit_1(_run_worker(tmp_path, broker))
