"""The dashboard's answers to bad input, to a broker or database that is down, to guessed tokens
and foreign hosts, and the headers and links that keep a browser safe; over HTTP (uvicorn)."""

from __future__ import annotations

import html
import http.client
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

import arame
from tests.dashboard.conftest import POSTGRES_URL, Served, ServeDashboard, free_port

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(60)]


def _raw(
    served: Served,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, http.client.HTTPMessage, str]:
    """One request, redirects not followed, from the local address ``source``."""
    parts = urlsplit(served.url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, response.msg, response.read().decode()
    finally:
        connection.close()


def _form(served: Served, path: str, fields: dict[str, str]) -> tuple[int, http.client.HTTPMessage, str]:
    """A form POST from the dashboard's own page: the CSRF cookie and field match."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "arame_csrf=tok"}
    return _raw(served, "POST", path, urlencode({"csrf": "tok", **fields}).encode(), headers)


def test_every_bad_parameter_is_answered_with_400(serve_dashboard: ServeDashboard, tmp_path: Path) -> None:
    served = serve_dashboard()
    for query in ("state=BOGUS", "limit=0", "limit=-3", "limit=ten", "sate=FAILURE", "since=yesterday"):
        status, answer = served.get(f"/api/tasks?{query}")
        assert status == 400 and answer["error"], query
    assert served.get("/tasks?state=BOGUS")[0] == 400
    pending = served.app.send_task(f"{served.queue}.add", args=(1, 2))  # no worker: it stays PENDING
    assert served.post_json(f"/api/tasks/{pending.id}/revoke", {"terminate": "maybe"})[0] == 400
    assert pending.state == "PENDING"

    # Times a database cannot hold once in UTC (SQLite and MySQL store naive UTC).
    app = arame.App("dash-range", broker="memory://", results=f"sqlite:///{tmp_path / 'results.db'}")
    try:
        on_sqlite = serve_dashboard(app=app)
        for query in (
            "since=0001-01-01T00:00:00%2B14:00",
            "until=9999-12-31T23:59:59-14:00",
            "after=0001-01-01T00:00:00%2B05:00_x",
        ):
            assert on_sqlite.get(f"/api/tasks?{query}")[0] == 400, query
            assert on_sqlite.get(f"/tasks?{query}")[0] == 400, query
        assert on_sqlite.get("/api/tasks?since=0001-01-01T00:00:00Z")[0] == 200
    finally:
        app.close()


def test_with_the_broker_or_the_database_down_the_answer_is_503(serve_dashboard: ServeDashboard) -> None:
    nothing = free_port()  # nothing listens there
    broker_down = arame.App("dash-down", broker=f"redis://127.0.0.1:{nothing}/0", results=POSTGRES_URL)
    database_down = arame.App(
        "dash-down", broker="memory://", results=f"postgresql+psycopg://127.0.0.1:{nothing}/test"
    )
    try:
        served = serve_dashboard(app=broker_down)
        for path in ("/api/overview", "/api/queues"):
            status, answer = served.get(path)
            assert status == 503 and f"127.0.0.1:{nothing}" in answer["error"], path
        status, page = served.get("/")
        assert status == 503 and "could not inspect queues" in page

        served = serve_dashboard(app=database_down)
        status, answer = served.get("/api/tasks")
        assert status == 503 and "results database" in answer["error"]
        assert served.get("/tasks/some-id")[0] == 503
    finally:
        broker_down.close()
        database_down.close()


def test_wrong_tokens_at_login_are_limited_per_client(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard(token="s3cret")
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def login(token: str, source: str = "127.0.0.1") -> tuple[int, http.client.HTTPMessage, str]:
        return _raw(served, "POST", "/login", urlencode({"token": token}).encode(), form, source)

    assert [login("guess")[0] for _ in range(5)] == [401] * 5
    status, headers, page = login("guess")
    assert status == 429 and int(headers["Retry-After"]) > 0 and "too many" in page
    assert login("s3cret")[0] == 429  # the right token too: guessing must stop, not slow down
    assert login("s3cret", source="127.0.0.2")[0] == 303  # another client is not held back


def test_a_request_must_name_the_dashboard_in_its_host_header(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    port = urlsplit(served.url).port
    rebound = f"rebind.evil.example:{port}"

    status, _headers, answer = _raw(served, "GET", "/api/tasks", headers={"Host": rebound})
    assert status == 400 and "rebind.evil.example" in answer
    foreign = {"Content-Type": "application/json", "Host": rebound, "Origin": f"http://{rebound}"}
    assert _raw(served, "POST", f"/api/queues/{served.queue}/pause", b"{}", foreign)[0] == 400
    assert served.app.workers.pauses.paused([served.queue]) == {}
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", "app.localhost"):
        assert _raw(served, "GET", "/api/tasks", headers={"Host": name})[0] == 200, name

    allowing = serve_dashboard(allowed_hosts=("dash.example",))
    for name in (f"dash.example:{allowing.url.rsplit(':', 1)[1]}", "DASH.example"):
        assert _raw(allowing, "GET", "/api/tasks", headers={"Host": name})[0] == 200, name
    assert _raw(allowing, "GET", "/api/tasks", headers={"Host": "other.example"})[0] == 400


def test_every_response_forbids_inline_script_and_framing(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    for path in ("/", "/tasks", "/api/overview", "/no-such-page"):
        _status, headers, _body = _raw(served, "GET", path)
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy
        assert (headers["X-Content-Type-Options"], headers["X-Frame-Options"]) == ("nosniff", "DENY")
    _status, _headers, page = _raw(served, "GET", "/")
    assert re.search(r"<script(?![^>]*\ssrc=)", page) is None  # no inline script block
    assert re.search(r"\son[a-z]+\s*=", page) is None  # no inline event handler
    status, headers, _script = _raw(served, "GET", "/static/dashboard.js")
    assert status == 200 and "javascript" in headers["Content-Type"]


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "/\t/evil.example/",
    ],
)
def test_an_action_goes_back_only_to_a_path_on_this_site(serve_dashboard: ServeDashboard, back: str) -> None:
    served = serve_dashboard()
    status, headers, _page = _form(served, f"/actions/queue/{served.queue}/pause", {"back": back})
    assert status == 303 and headers["Location"].startswith("/?msg=")
    status, headers, _page = _form(
        served, f"/actions/queue/{served.queue}/resume", {"back": "/tasks?state=PENDING"}
    )
    assert status == 303 and headers["Location"].startswith("/tasks?state=PENDING&msg=")
    # The refusal page's link too.
    refused = {"back": back, "csrf": "wrong"}
    status, _headers, page = _form(served, f"/actions/queue/{served.queue}/pause", refused)
    assert status == 403 and '<a href="/">Back</a>' in page


@pytest.mark.usefixtures("worker")
def test_the_task_page_shows_the_users_frames_first_and_folds_arames(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    failed = served.app.send_task(f"{served.queue}.flaky", args=(4,))
    with pytest.raises(arame.TaskFailed):
        failed.get(timeout=10)

    _status, page = served.get(f"/tasks/{failed.id}")
    shown = re.search(r'<pre id="traceback">(.*?)</pre>', page, re.S)
    folded = re.search(r'<details id="whole-traceback">(.*?)</details>', page, re.S)
    assert shown and folded
    frames = re.findall(r'File "([^"]+)"', html.unescape(shown[1]))
    assert frames and all(Path(frame).name == "conftest.py" for frame in frames)
    assert "the first call fails" in shown[1]
    assert "arame/consumers/execute.py" in html.unescape(folded[1])
