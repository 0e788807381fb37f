"""Attacks on the dashboard from a hostile page, in a real headless Chromium: script through the
error page's back link, script through a queue name, and a rebinding name on 127.0.0.1."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from arame.transport import Publisher, dead_letter_queue, dead_sizes
from tests.cleanup import delete_queues
from tests.dashboard.conftest import REDIS_URL, Browse, ServeDashboard
from tests.helpers import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(90)]

#: What an attacker's script leaves behind if it runs: a cookie on the dashboard's origin.
FIRED = "document.cookie='pwned=1'"


def _fired(page: Any) -> bool:
    return any(cookie["name"] == "pwned" for cookie in page.context.cookies())


def test_a_cross_site_post_cannot_plant_a_javascript_link_on_the_refusal_page(
    browse: Browse, serve_dashboard: ServeDashboard
) -> None:
    served = serve_dashboard()
    page = browse()
    target = f"{served.url}/actions/queue/{served.queue}/pause"
    hostile = (
        f'<form id="f" method="post" action="{target}"><input name="csrf" value="guess">'
        f'<input name="back" value="javascript:void({FIRED})"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    page.route(
        "http://evil.example/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=hostile),
    )
    with page.expect_navigation(url=target):
        page.goto("http://evil.example/")

    assert "cross-site request refused" in page.inner_text(".err")
    back = page.get_attribute("text=Back", "href")
    page.click("text=Back")
    page.wait_for_load_state()
    assert not _fired(page)
    assert back == "/"
    assert served.app.workers.pauses.paused([served.queue]) == {}


def test_a_queue_name_is_never_run_as_script_and_purging_still_asks_first(
    browse: Browse, serve_dashboard: ServeDashboard
) -> None:
    served = serve_dashboard()
    app, payload = served.app, f"{served.queue}'+({FIRED})+'"
    publisher = Publisher(app.broker)
    try:
        publisher.publish('{"id": "dead-one"}', dead_letter_queue(payload))
    finally:
        publisher.close()
    app.workers.pauses.pause(payload)
    page, asked, blocked = browse(), [], []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Security Policy" in message.text else None
    )
    try:
        answers = iter([False, True])
        page.on("dialog", lambda d: (asked.append(d.message), d.accept() if next(answers) else d.dismiss()))
        page.goto(served.url + "/?all=1")  # a paused queue of no task of this app: in the view of all
        purge = page.locator(f'tr[data-queue="{payload}"] form[action$="/dead/purge"] button')

        purge.click()  # and answer no
        wait_until(lambda: len(asked) == 1, 10, "the page asked once")
        assert not _fired(page)
        assert asked == [f"Delete the dead letters of {payload}?"]
        assert dead_sizes(app.broker, [payload])[payload] == 1

        purge.click()  # and answer yes
        page.wait_for_url("**/?msg=*")
        assert dead_sizes(app.broker, [payload])[payload] == 0
        assert not _fired(page) and blocked == []  # the page's own script and style are allowed
    finally:
        app.workers.pauses.resume(payload)
        delete_queues(REDIS_URL, [payload])


def test_a_rebinding_name_on_the_loopback_address_is_refused(
    browse: Browse, serve_dashboard: ServeDashboard
) -> None:
    served = serve_dashboard()
    port = urlsplit(served.url).port
    page = browse("--host-resolver-rules=MAP rebind.evil.example 127.0.0.1")

    assert page.goto(f"http://rebind.evil.example:{port}/tasks").status == 400
    pause = """async (path) => (await fetch(path, {
        method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"})).status"""
    assert page.evaluate(pause, f"/api/queues/{served.queue}/pause") == 400
    assert served.app.workers.pauses.paused([served.queue]) == {}

    assert page.goto(f"http://127.0.0.1:{port}/tasks").status == 200
    assert page.goto(f"http://localhost:{port}/tasks").status == 200
