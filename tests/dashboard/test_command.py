"""``arame dashboard`` as a user runs it: a fresh process, its output, what ``ps`` shows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import arame
from tests.dashboard.conftest import free_port

pytestmark = pytest.mark.timeout(60)

SECRET = "not-for-ps-4f1c9a"


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """A module ``dashmod`` with an App on memory:// and a SQLite results file of this test."""
    (tmp_path / "dashmod.py").write_text("import arame\n\napp = arame.App('dashmod')\n")
    results = f"sqlite:///{tmp_path / 'results.db'}"
    app = arame.App("dashmod", broker="memory://", results=results)
    app.workers.list()  # the results file exists: the dashboard reads an existing one only
    app.close()
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "ARAME_BROKER_URL": "memory://",
        "ARAME_RESULTS_URL": results,
    }


def _dashboard(*options: str) -> list[str]:
    return [sys.executable, "-m", "arame", "dashboard", "-A", "dashmod", *options]


def test_an_open_address_without_a_token_is_refused_before_it_says_it_is_on(
    environment: dict[str, str],
) -> None:
    port = str(free_port())
    done = subprocess.run(
        _dashboard("--host", "0.0.0.0", "--port", port),
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error: the dashboard refuses to listen on 0.0.0.0 without a token: pass --token-file or set "
        "ARAME_DASHBOARD_TOKEN (anyone who reaches it could retry, revoke and purge), or bind to 127.0.0.1"
    ]


@pytest.fixture
def running(environment: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The dashboard with its token from a file and one allowed host name, until it answers."""
    token_file = tmp_path / "token"
    token_file.write_text(f"{SECRET}\n")
    port = free_port()
    options = ("--port", str(port), "--token-file", str(token_file), "--allowed-host", "dash.example")
    process = subprocess.Popen(_dashboard(*options), env=environment, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while _status(url + "/api/overview") is None:
            assert process.poll() is None, "the dashboard exited"
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.1)
        yield process, url
    finally:
        process.terminate()
        process.wait(10)


def _status(url: str, headers: dict[str, str] | None = None) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError):
        return None  # not listening yet


def test_the_token_comes_from_a_file_and_stays_out_of_ps(
    running: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = running
    command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert "--token-file" in command_line and SECRET not in command_line

    bearer = {"Authorization": f"Bearer {SECRET}"}
    assert _status(url + "/api/overview") == 401
    assert _status(url + "/api/overview", bearer) == 200
    assert _status(url + "/api/overview", {**bearer, "Host": "dash.example"}) == 200
    assert _status(url + "/api/overview", {**bearer, "Host": "elsewhere.example"}) == 400
