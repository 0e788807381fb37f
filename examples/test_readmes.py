"""Each example's README, run as written: its server, its worker and its requests, as processes.

(Here rather than beside each example: ``manage.py test`` in examples/django discovers test*.py
files of its own folder, where ``examples`` is not importable.)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from examples.readme import ReadmeSession, shell_blocks

pytestmark = pytest.mark.processes

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent


def _environment(tmp_path: Path, *, database: bool) -> dict[str, str]:
    """The user's environment: none of the test suite's settings; a database of the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARAME_", "DJANGO_", "EXAMPLE_", "REPORT_"))
    }
    if database:  # the README's default, arame.db in the working directory, but not in the clone
        env["ARAME_BROKER_URL"] = env["ARAME_RESULTS_URL"] = f"sqlite:///{tmp_path}/arame.db"
    return env


def _finished(body: dict[str, object]) -> bool:
    return body["state"] in {"SUCCESS", "FAILURE"}


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[list[ReadmeSession]]:
    made: list[ReadmeSession] = []
    yield made
    for session in made:
        session.close()


def test_the_django_readme_migrates_serves_runs_a_worker_and_answers_its_requests(
    tmp_path: Path, sessions: list[ReadmeSession]
) -> None:
    site = tmp_path / "django"  # a fresh copy: a fresh db.sqlite3, as in a clean clone
    shutil.copytree(EXAMPLES / "django", site, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3"))
    session = ReadmeSession(site, _environment(tmp_path, database=False), tmp_path)
    sessions.append(session)
    blocks = shell_blocks(EXAMPLES / "django" / "README.md")
    [migrate, server], [worker], [feedback, report, status], [order, transfer, transferred] = blocks

    session.run(migrate)
    session.start(server)
    session.wait_until_serving()
    assert session.request(feedback) == {"id": 1}  # the example's own table exists
    session.request(report)
    assert session.request(status) == {"state": "PENDING", "result": None}
    session.start(worker)
    body = session.poll(status, until=_finished)
    messages = 1 if datetime.now(UTC).year == 2026 else 0  # the README asks for 2026's report
    assert body == {"state": "SUCCESS", "result": {"year": 2026, "messages": messages}}
    assert session.request(order)["id"] == 1  # saved, its task enqueued in the same transaction
    session.request(transfer)
    body = session.poll(transferred, until=_finished)
    assert body == {"state": "SUCCESS", "result": {"ada": 70, "grace": 130}}


def test_the_flask_readme_serves_the_factory_and_its_worker_runs_tasks_in_the_app_context(
    tmp_path: Path, sessions: list[ReadmeSession]
) -> None:
    session = ReadmeSession(ROOT, _environment(tmp_path, database=True), tmp_path)
    sessions.append(session)
    [server], [worker], [signup, status] = shell_blocks(EXAMPLES / "flask" / "README.md")

    session.start(server)
    session.wait_until_serving()
    session.request(signup)
    session.start(worker)
    body = session.poll(status, until=_finished)
    assert body == {"state": "SUCCESS", "result": "Arame shop welcomes ada@example.com"}


def test_the_fastapi_readme_serves_with_its_worker_and_answers_its_requests(
    tmp_path: Path, sessions: list[ReadmeSession]
) -> None:
    session = ReadmeSession(ROOT, _environment(tmp_path, database=True), tmp_path)
    sessions.append(session)
    [server], [worker], [report, status] = shell_blocks(EXAMPLES / "fastapi" / "README.md")

    session.start(server)
    session.start(worker)
    session.wait_until_serving()
    session.request(report)
    body = session.poll(status, until=_finished)
    assert body == {"state": "SUCCESS", "result": {"year": 2025, "orders": 25}}
