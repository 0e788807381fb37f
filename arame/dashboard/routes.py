"""Every route of the dashboard, in one list: add a route (such as ``/metrics``) here."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from arame.dashboard.api import Api
from arame.dashboard.context import Dashboard
from arame.dashboard.pages import Pages

QUEUE_ACTION = "{action:path}"  # pause, resume, dead/requeue, dead/purge


def routes(board: Dashboard) -> list[BaseRoute]:
    """The pages, the JSON API and the action endpoints over ``board``."""
    pages, api = Pages(board), Api(board)
    return [
        Route("/", pages.overview, name="overview"),
        Route("/tasks", pages.tasks, name="tasks"),
        Route("/tasks/{task_id}", pages.task, name="task"),
        Route("/login", pages.login, name="login"),
        Route("/login", pages.login_post, methods=["POST"]),
        Route("/actions/{kind:str}/{target}/" + QUEUE_ACTION, pages.act, methods=["POST"]),
        Route("/metrics", api.metrics),
        Route("/api/overview", api.overview),
        Route("/api/queues", api.queues),
        Route("/api/workers", api.workers),
        Route("/api/tasks", api.tasks),
        Route("/api/tasks/{task_id}", api.task),
        Route("/api/tasks/{task_id}/{action:str}", api.task_action, methods=["POST"]),
        Route("/api/queues/{queue}/" + QUEUE_ACTION, api.queue_action, methods=["POST"]),
    ]
