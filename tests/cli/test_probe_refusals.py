"""What a careless operator types gets one line, never a traceback or a hang; a reader creates
no table; text from rows reaches the terminal with its control characters escaped."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

import arame

ARAME = str(Path(sys.executable).with_name("arame"))
APP_SOURCE = """
import arame

app = arame.App("probe")


@app.task
def add(x: int, y: int) -> int:
    return x + y
"""


def _run(tmp_path: Path, *args: str | bytes, embedded: bool = False) -> subprocess.CompletedProcess[str]:
    """``arame ARGS`` in a fresh process in ``tmp_path`` (arguments may be raw bytes); with
    ``embedded``, on the embedded default (no URL in the environment)."""
    (tmp_path / "probe_tasks.py").write_text(APP_SOURCE)
    environment = {**os.environ, "ARAME_BROKER_URL": f"sqlite:///{tmp_path}/broker.db"}
    for name in ("ARAME_RESULTS_URL", "ARAME_APP", *(["ARAME_BROKER_URL"] if embedded else [])):
        environment.pop(name, None)
    return subprocess.run(
        [ARAME, *args],
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    )


def _one_line(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["status", "-A", "probe_tasks", "--broker", "redis://127.0.0.1:notaport/0"],
        ["worker", "-A", "probe_tasks", "--burst", "--broker", "redis://127.0.0.1:notaport/0"],
        ["dead", "list", "-A", "probe_tasks", "--broker", "amqp://guest:secret@127.0.0.1:notaport//"],
        ["result", "abc", "--results", "postgresql://u:secret@127.0.0.1:notaport/test"],
    ],
    ids=["status", "worker", "dead-list", "result"],
)
def test_a_port_that_is_not_a_number_is_one_line(tmp_path: Path, args: list[str]) -> None:
    done = _run(tmp_path, *args)
    _one_line(done, 1, "'notaport'")
    assert "secret" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [b"pause", b"-A", b"probe_tasks", b"q\xff"],
        [b"send", b"-A", b"probe_tasks", b"add", b"\xff", b"1"],
        [b"result", b"id\xfe"],
        [b"worker", b"-A", b"probe_tasks", b"-Q", b"bad\xff", b"--burst"],  # never exited
    ],
    ids=["pause", "send", "result", "worker"],
)
def test_an_argument_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path, args: list[bytes]) -> None:
    _one_line(_run(tmp_path, *args), 2, "is not valid UTF-8")


def test_status_on_the_embedded_default_before_any_publish_says_nothing_was_published(tmp_path: Path) -> None:
    done = _run(tmp_path, "status", "probe_tasks", embedded=True)
    assert done.returncode == 0, done.stderr
    assert "nothing published yet" in done.stdout and "give -A" not in done.stdout + done.stderr
    assert "default" in done.stdout and "nothing recorded yet" in done.stdout
    assert not (tmp_path / "arame.db").exists()


def test_result_escapes_control_characters_from_the_row(tmp_path: Path) -> None:
    (tmp_path / "probe_tasks.py").write_text(APP_SOURCE)
    results = f"sqlite:///{tmp_path}/results.db"
    app = arame.App("sender", broker=f"sqlite:///{tmp_path}/broker.db", results=results)
    try:
        handle = app.send_task("evil\x1b]0;owned\x07\x1b[2J\rtask", args=(1,))
    finally:
        app.close()

    done = _run(tmp_path, "result", handle.id, "--results", results)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\r" not in done.stdout
    assert "task=evil\\x1b]0;owned\\x07\\x1b[2J\\rtask" in done.stdout


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists and holds no table: an empty SQLite file, or a fresh PostgreSQL
    database of this test's own."""
    if request.param == "sqlite":
        sa.create_engine(f"sqlite:///{tmp_path}/empty.db").connect().close()
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    name = f"arame_probe_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://127.0.0.1/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://127.0.0.1/{name}"
    finally:
        with psycopg.connect("postgresql://127.0.0.1/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_read_only_commands_create_no_table_and_say_there_is_none(
    tmp_path: Path, empty_database: str
) -> None:
    for args in (["result", "abc"], ["workers", "-A", "probe_tasks"], ["revoke", "abc"]):
        _one_line(_run(tmp_path, *args, "--results", empty_database), 1, "no results table")
    status = _run(tmp_path, "status", "-A", "probe_tasks", "--results", empty_database)
    assert status.returncode == 0 and "nothing recorded yet" in status.stdout, status.stderr
    engine = sa.create_engine(empty_database.replace("postgresql:", "postgresql+psycopg:"))
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
