"""The dashboard's JSON API and its guards, served by uvicorn over Redis and PostgreSQL."""

from __future__ import annotations

import time

import pytest

import arame
from arame.dashboard.server import server
from arame.results.outbox_table import outbox
from tests.cleanup import delete_queues, delete_result_rows
from tests.dashboard.conftest import POSTGRES_URL, REDIS_URL, ServeDashboard

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(60)]


def _failed_and_succeeded(app: arame.App, queue: str) -> tuple[arame.AsyncResult, arame.AsyncResult]:
    failed = app.send_task(f"{queue}.flaky", args=(4,))
    ok = app.send_task(f"{queue}.add", args=(2, 3))
    with pytest.raises(arame.TaskFailed):
        failed.get(timeout=10)
    assert ok.get(timeout=10) == 5
    return failed, ok


@pytest.mark.usefixtures("worker")
def test_the_api_lists_filters_shows_and_retries_tasks(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    failed, ok = _failed_and_succeeded(served.app, served.queue)

    status, page = served.get(f"/api/tasks?queue={served.queue}")
    assert status == 200 and [t["id"] for t in page["tasks"]] == [ok.id, failed.id]
    status, page = served.get(f"/api/tasks?queue={served.queue}&state=FAILURE")
    assert [t["id"] for t in page["tasks"]] == [failed.id]
    status, first = served.get(f"/api/tasks?queue={served.queue}&limit=1")
    status, second = served.get(f"/api/tasks?queue={served.queue}&limit=1&after={first['next']}")
    assert [t["id"] for t in first["tasks"] + second["tasks"]] == [ok.id, failed.id] and second[
        "next"
    ] is None

    status, shown = served.get(f"/api/tasks/{failed.id}")
    assert status == 200
    assert (shown["args"], shown["error_type"], shown["attempts"]) == ([4], "RuntimeError", 1)
    assert "the first call fails" in shown["traceback"]

    status, done = served.post_json(f"/api/tasks/{failed.id}/retry", {})
    assert (status, done["state"]) == (200, "PENDING")
    assert failed.get(timeout=10) == 40
    status, refused = served.post_json(f"/api/tasks/{ok.id}/retry", {})
    assert status == 409 and "SUCCESS" in refused["error"]
    assert served.get("/api/tasks/no-such-id")[0] == 404
    assert served.get("/api/tasks?since=yesterday")[0] == 400


@pytest.mark.usefixtures("worker")
def test_the_overview_counts_queues_states_workers_and_the_last_hour(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    _failed_and_succeeded(served.app, served.queue)
    deadline = time.monotonic() + 10
    while (overview := served.get("/api/overview")[1])["workers"]["alive"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    mine = [q for q in overview["queues"] if q["name"] == served.queue]
    assert mine == [
        {
            "name": served.queue,
            "ready": 0,
            "delayed": 0,
            "in_flight": 0,
            "dead": 0,
            "unpublished": 0,
            "paused_since": None,
        }
    ]
    assert overview["states"]["FAILURE"] >= 1 and overview["states"]["SUCCESS"] >= 1
    # The last two minutes: the tasks may have finished just before the minute turned.
    recent = overview["per_minute"][-2:]
    assert len(overview["per_minute"]) == 60
    assert sum(m["tasks"] for m in recent) >= 2 and sum(m["failures"] for m in recent) >= 1
    _status, workers = served.get("/api/workers")
    assert any(served.queue in w["queues"] and not w["lost"] for w in workers)


def test_tasks_committed_but_not_yet_published_show_on_their_queue(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    caller = arame.App(
        "caller", broker="redis://127.0.0.1:9/0", results=POSTGRES_URL
    )  # nothing listens there
    send = caller.task(name=f"{served.queue}.add", queue=served.queue)(lambda x, y: x + y)
    with caller.results.engine.begin() as conn, caller.transaction(conn):
        send.delay(1, 2)
        send.delay(3, 4)
    caller.close()
    queues = {q["name"]: q for q in served.get("/api/queues")[1]}
    assert queues[served.queue]["unpublished"] == 2
    with served.app.results.transaction() as conn:  # no worker's relay runs here: clear them
        conn.execute(outbox.delete().where(outbox.c.queue == served.queue))


def test_pause_and_resume_through_the_api_show_on_the_queue(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    assert served.post_json(f"/api/queues/{served.queue}/pause", {})[0] == 200
    queues = {q["name"]: q for q in served.get("/api/queues")[1]}
    assert queues[served.queue]["paused_since"] is not None
    assert served.post_json(f"/api/queues/{served.queue}/resume", {})[0] == 200
    assert served.app.workers.pauses.paused([served.queue]) == {}
    assert served.post_json(f"/api/queues/{served.queue}/explode", {})[0] == 404


def test_with_a_token_every_request_needs_it(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard(token="s3cret")
    assert served.get("/api/overview")[0] == 401
    assert served.get("/api/overview", token="wrong")[0] == 401
    assert served.get("/api/overview", token="s3cret")[0] == 200
    assert served.post_json(f"/api/queues/{served.queue}/pause", {})[0] == 401
    assert served.post_json(f"/api/queues/{served.queue}/pause", {}, token="s3cret")[0] == 200
    status, page = served.call("GET", "/")
    assert status == 200 and "needs its token" in page  # redirected to the login form


def test_actions_from_another_site_are_refused(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    path = f"/api/queues/{served.queue}/pause"
    foreign = {"Content-Type": "application/json", "Origin": "http://evil.example"}
    assert served.call("POST", path, b"{}", foreign)[0] == 403
    # A form post (no JSON content type) cannot reach the API, and a form needs the CSRF field.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert served.call("POST", path, b"", form)[0] == 403
    status, page = served.call("POST", f"/actions/queue/{served.queue}/pause", b"csrf=guess", form)
    assert status == 403 and "CSRF" in page
    assert served.app.workers.pauses.paused([served.queue]) == {}


def test_the_dashboard_refuses_an_open_address_without_a_token(shop: arame.App) -> None:
    with pytest.raises(arame.ConfigurationError, match="without a token"):
        server(shop, "0.0.0.0", 8700)
    assert server(shop, "0.0.0.0", 8700, token="t") is not None
    assert server(shop, "::1", 8700) is not None


@pytest.mark.usefixtures("worker")
def test_metrics_show_queue_depths_paused_queues_and_live_workers(serve_dashboard: ServeDashboard) -> None:
    served = serve_dashboard()
    idle = f"{served.queue}-idle"  # no worker consumes it: its message stays ready
    try:
        assert served.post_json(f"/api/queues/{idle}/pause", {})[0] == 200
        served.app.send_task(f"{served.queue}.add", args=(1, 1), queue=idle)
        deadline = time.monotonic() + 10
        while "arame_workers 0.0" in (text := served.get("/metrics")[1]):
            assert time.monotonic() < deadline
            time.sleep(0.1)

        assert f'arame_queue_messages{{kind="ready",queue="{idle}"}} 1.0' in text
        assert f'arame_queue_paused{{queue="{idle}"}} 1.0' in text
        assert "arame_broker_up 1.0" in text
    finally:
        served.app.workers.pauses.resume(idle)
        delete_queues(REDIS_URL, [idle])
        delete_result_rows(POSTGRES_URL, [idle])
