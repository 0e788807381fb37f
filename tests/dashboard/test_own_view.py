"""The dashboard shows its app's queues, rows and workers of a shared results database; ``?all=1``
shows every app's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import arame
from tests.cleanup import delete_queues, delete_result_rows
from tests.dashboard.conftest import POSTGRES_URL, REDIS_URL, ServeDashboard

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(60)]


@pytest.fixture
def other() -> Iterator[arame.App]:
    """Another service on the same results database, with two tasks waiting and a worker."""
    queue = f"arame-other-{uuid.uuid4().hex}"
    app = arame.App("other", broker=REDIS_URL, results=POSTGRES_URL, default_queue=queue)
    app.task(name=f"{queue}.add")(lambda x, y: x + y)
    worker_id = uuid.uuid4().hex
    app.workers.register(worker_id, host="other-host", pid=1, queues=[queue], pool="thread", concurrency=1)
    yield app
    app.workers.unregister(worker_id)
    app.close()
    delete_queues(REDIS_URL, [queue])
    delete_result_rows(POSTGRES_URL, [queue])


def test_pages_and_api_show_the_apps_own_view_unless_all(
    serve_dashboard: ServeDashboard, other: arame.App
) -> None:
    served = serve_dashboard()
    queue = other.default_queue
    sent = [other.send_task(f"{queue}.add", args=(1, i)).id for i in range(2)]

    def views(path: str) -> tuple[str, str]:
        separator = "&" if "?" in path else "?"
        own, every = served.get(path), served.get(f"{path}{separator}all=1")
        assert own[0] == every[0] == 200, (own, every)
        return str(own[1]), str(every[1])

    for path in ("/api/queues", "/api/overview", "/"):
        own, every = views(path)
        assert served.queue in own and queue not in own, path
        assert queue in every, path
    assert "/api/overview?all=1" in every and "/api/overview?all=1" not in own  # the refresh of "/"
    own, every = views("/api/workers")
    assert "other-host" not in own and "other-host" in every
    own, every = views(f"/api/tasks?task={queue}.add")
    assert not any(task_id in own for task_id in sent) and all(task_id in every for task_id in sent)
    own, every = views(f"/tasks?task={queue}.add")  # the page
    assert sent[0] not in own and sent[0] in every
