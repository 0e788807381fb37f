"""Fixtures for the command-line tests: a tasks module on disk, memory:// and a SQLite file."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import arame
from arame.app import BROKER_ENV, RESULTS_ENV
from arame.testing import reset_memory_transport

TASKS_SOURCE = """
import arame

app = arame.App("cli-test")


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def fail(message: str) -> None:
    raise ValueError(message)
"""

WriteModule = Callable[..., str]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results_url: str) -> Iterator[WriteModule]:
    """Write a tasks module under a fresh name into the working directory; return its name.

    The broker is memory:// and the results a SQLite file of this test, through the env vars
    the command line reads.
    """
    reset_memory_transport()
    monkeypatch.setenv(BROKER_ENV, "memory://")
    monkeypatch.setenv(RESULTS_ENV, results_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str = TASKS_SOURCE) -> str:
        name = f"tasks_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write

    for name in written:
        module = sys.modules.pop(name, None)
        for value in vars(module).values() if module else ():
            if isinstance(value, arame.App):
                value.close()
    reset_memory_transport()
