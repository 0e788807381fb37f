"""A real dashboard server (uvicorn on a thread) over an app on the real servers."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import arame
from arame.dashboard.server import server
from tests.cleanup import queue_removed_after
from tests.integration.conftest import POSTGRES_URL

REDIS_URL = "redis://127.0.0.1:6379/15"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass
class Served:
    """A running dashboard: its base URL and the app behind it."""

    url: str
    app: arame.App
    queue: str

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return self.call("GET", path, token=token)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> tuple[int, Any]:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _decoded(response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, _decoded(exc.read(), exc.headers)

    def post_json(self, path: str, data: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
        body = json.dumps(data).encode()
        return self.call("POST", path, body, {"Content-Type": "application/json"}, token)


def _decoded(raw: bytes, headers: Any) -> Any:
    return json.loads(raw) if "json" in headers.get("content-type", "") else raw.decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def queue() -> Iterator[str]:
    yield from queue_removed_after(REDIS_URL, POSTGRES_URL)


@pytest.fixture
def shop(queue: str) -> Iterator[arame.App]:
    """An app on Redis and PostgreSQL with a task that fails on its first call only."""
    app = arame.App("dash", broker=REDIS_URL, results=POSTGRES_URL)
    calls: list[int] = []

    @app.task(name=f"{queue}.flaky", queue=queue, max_retries=0)
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("the first call fails")
        return x * 10

    @app.task(name=f"{queue}.add", queue=queue)
    def add(x: int, y: int) -> int:
        return x + y

    yield app
    app.workers.pauses.resume(queue)
    app.close()


ServeDashboard = Callable[..., Served]


@pytest.fixture
def serve_dashboard(shop: arame.App, queue: str) -> Iterator[ServeDashboard]:
    """Start the dashboard of ``shop`` on a free loopback port; stop it at teardown."""
    running: list[tuple[Any, threading.Thread]] = []

    def start(
        token: str | None = None, *, app: arame.App | None = None, allowed_hosts: tuple[str, ...] = ()
    ) -> Served:
        shown = app or shop
        port = free_port()
        options = {"allowed_hosts": allowed_hosts} if allowed_hosts else {}
        web = server(shown, "127.0.0.1", port, token, **options)
        thread = threading.Thread(target=web.run, daemon=True)
        thread.start()
        running.append((web, thread))
        if app is None:
            shop.workers.list()  # the registry's tables exist before the first request reads them
        deadline = time.monotonic() + 10
        while not web.started:
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.01)
        return Served(f"http://127.0.0.1:{port}", shown, queue)

    yield start
    for web, thread in running:
        web.should_exit = True
        thread.join(10)


@pytest.fixture
def worker(shop: arame.App, queue: str) -> Iterator[None]:
    """A real worker (thread pool) consuming the test's queue."""
    running = shop.worker([queue], 2, shutdown_timeout=5)
    running.start()
    yield
    running.stop(10)


Browse = Callable[..., Any]


@pytest.fixture
def browse() -> Iterator[Browse]:
    """``browse(*extra_args)``: a page of a fresh headless Chromium; skipped without Chromium or
    Playwright, failed instead under ``ARAME_REQUIRE_SERVICES=1``."""
    missing = None if CHROMIUM.exists() else f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "playwright is not installed (pip install -e '.[dev]')"
    if missing:
        if os.environ.get("ARAME_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{missing} (ARAME_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(missing)
    browsers: list[Any] = []
    with sync_playwright() as playwright:

        def open_page(*extra_args: str) -> Any:
            args = [*CHROMIUM_ARGS, *extra_args]
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
            browsers.append(browser)
            return browser.new_page(viewport={"width": 1100, "height": 760})

        try:
            yield open_page
        finally:
            for browser in browsers:
                browser.close()
