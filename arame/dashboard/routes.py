"""Every route of the dashboard, in one list (add a route, such as ``/metrics``, here), and the
application around them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from arame import ResultStoreError, TransportError
from arame.dashboard.context import Dashboard
from arame.dashboard.json_api import Api
from arame.dashboard.middleware import Hardened
from arame.dashboard.pages import Pages

QUEUE_ACTION = "{action:path}"  # pause, resume, dead/requeue, dead/purge
STATIC = Path(__file__).with_name("static")


def application(board: Dashboard, allowed_hosts: Iterable[str] = ()) -> Starlette:
    """The Starlette application over ``board``: routes, the 503 answers when the broker or the
    database is down, the ``Host`` check and the security headers."""
    pages = Pages(board)
    handlers = {TransportError: pages.unavailable, ResultStoreError: pages.unavailable}
    return Starlette(
        routes=routes(board, pages),
        middleware=[Middleware(Hardened, allowed_hosts=list(allowed_hosts))],
        exception_handlers=handlers,
    )


def routes(board: Dashboard, pages: Pages) -> list[BaseRoute]:
    """The pages, the JSON API, the action endpoints and the static files over ``board``."""
    api = Api(board)
    return [
        Route("/", pages.overview, name="overview"),
        Route("/tasks", pages.tasks, name="tasks"),
        Route("/tasks/{task_id}", pages.task, name="task"),
        Route("/login", pages.login, name="login"),
        Route("/login", pages.login_post, methods=["POST"]),
        Route("/actions/{kind:str}/{target}/" + QUEUE_ACTION, pages.act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/metrics", api.metrics),
        Route("/api/overview", api.overview),
        Route("/api/queues", api.queues),
        Route("/api/workers", api.workers),
        Route("/api/tasks", api.tasks),
        Route("/api/tasks/{task_id}", api.task),
        Route("/api/tasks/{task_id}/{action:str}", api.task_action, methods=["POST"]),
        Route("/api/queues/{queue}/" + QUEUE_ACTION, api.queue_action, methods=["POST"]),
    ]
