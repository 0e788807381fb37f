"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import arame
from tests.dashboard.conftest import Browse, ServeDashboard

#: Set to a folder to save the screenshots the docs show (overview, task list, task page).
SCREENSHOTS = os.environ.get("ARAME_SCREENSHOTS")

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(90)]


@pytest.fixture
def page(browse: Browse) -> Any:
    """A page of headless Chromium."""
    return browse()


def _shot(page: Any, name: str, height: int = 600) -> None:
    if SCREENSHOTS:  # the top of the page only: small files, and no local paths from a traceback
        clip = {"x": 0, "y": 0, "width": 1100, "height": height}
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), clip=clip)


@pytest.mark.usefixtures("worker")
def test_a_failed_task_found_in_the_browser_is_retried_and_succeeds(
    page: Any, serve_dashboard: ServeDashboard
) -> None:
    served = serve_dashboard()
    app, queue = served.app, served.queue
    failed = app.send_task(f"{queue}.flaky", args=(4,))
    with pytest.raises(arame.TaskFailed):
        failed.get(timeout=10)
    for x in range(3):
        assert app.send_task(f"{queue}.add", args=(x, 1)).get(timeout=10) == x + 1

    page.goto(served.url + "/")
    assert page.locator(f'tr[data-queue="{queue}"]').count() == 1
    assert page.locator("#chart polyline").count() == 2
    _shot(page, "dashboard-overview")

    page.goto(served.url + "/tasks")
    page.fill("#queue", queue)
    page.select_option("#state", "FAILURE")
    page.click("#filter")
    rows = page.locator("#tasks tr:has(td.state)")
    assert rows.count() == 1 and rows.first.locator("td.state").inner_text() == "FAILURE"
    page.fill("#task", "")
    page.select_option("#state", "")
    page.click("#filter")
    assert page.locator("#tasks tr:has(td.state)").count() == 4
    _shot(page, "dashboard-tasks")

    page.select_option("#state", "FAILURE")
    page.click("#filter")
    page.click(f"text={failed.id}")
    assert "the first call fails" in page.inner_text("#traceback")
    assert page.inner_text("#args").startswith("args = [\n  4\n]")
    _shot(page, "dashboard-task", height=640)

    page.click("#retry")
    assert "retry" in page.inner_text(".msg")
    assert failed.get(timeout=10) == 40
    page.reload()
    assert page.inner_text("#task-state") == "SUCCESS"
    assert page.inner_text("#result") == "40"
