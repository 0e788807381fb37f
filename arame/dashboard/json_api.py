"""The JSON API under ``/api/``: what the pages show, for scripts too, and the actions as POSTs."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from arame.dashboard import queries as reads
from arame.dashboard.actions import QUEUE_ACTIONS, TASK_ACTIONS, ActionFailed
from arame.dashboard.context import (
    LIST_PARAMETERS,
    BadRequest,
    Dashboard,
    cursor,
    known_parameters,
    limit,
    scoped_filter,
    show_all,
)
from arame.dashboard.security import Refused
from arame.results.browse import list_tasks


def answer(data: Any, status: int = 200) -> JSONResponse:
    """A JSON response, datetimes as ISO 8601."""
    return JSONResponse(reads.jsonable(data), status_code=status)


def error(status: int, reason: str) -> JSONResponse:
    """A JSON error: ``{"error": reason}``."""
    return JSONResponse({"error": reason}, status_code=status)


class Api:
    """The API's endpoints over one dashboard (reads are plain functions: Starlette runs them on
    its thread pool, so a slow database never stalls the event loop)."""

    def __init__(self, board: Dashboard) -> None:
        self.board = board

    def _refused(self, request: Request) -> JSONResponse | None:
        if self.board.guard.authorised(request):
            return None
        return error(401, "the dashboard token is missing or wrong")

    def metrics(self, request: Request) -> Response:
        """GET /metrics: queue depths, paused queues and live workers as Prometheus text."""
        if refused := self._refused(request):
            return refused
        from arame.metrics.dashboard import render  # the metrics extra: only when scraped

        board = self.board.app.workers
        body, content_type = render(
            self.board.app,
            workers=lambda: sum(not info.lost for info in board.list()),
            paused=board.pauses.paused,
        )
        return Response(body, media_type=content_type)

    def overview(self, request: Request) -> JSONResponse:
        """GET /api/overview"""
        return self._refused(request) or answer(reads.overview(self.board.app, show_all(request)))

    def queues(self, request: Request) -> JSONResponse:
        """GET /api/queues"""
        return self._refused(request) or answer(reads.queues(self.board.app, show_all(request)))

    def workers(self, request: Request) -> JSONResponse:
        """GET /api/workers"""
        return self._refused(request) or answer(reads.workers(self.board.app, show_all(request)))

    def tasks(self, request: Request) -> JSONResponse:
        """GET /api/tasks?state=&task=&queue=&since=&until=&after=&limit=&all="""
        if refused := self._refused(request):
            return refused
        try:
            known_parameters(request, LIST_PARAMETERS)
            where, after, size = scoped_filter(request, self.board.app), cursor(request), limit(request)
        except BadRequest as exc:
            return error(400, str(exc))
        page = list_tasks(self.board.app.results, where, after, size)
        return answer({"tasks": page.rows, "next": page.next.encode() if page.next else None})

    def task(self, request: Request) -> JSONResponse:
        """GET /api/tasks/{id}"""
        if refused := self._refused(request):
            return refused
        found = reads.task(self.board.app, request.path_params["task_id"])
        return error(404, "no such task") if found is None else answer(found)

    async def task_action(self, request: Request) -> JSONResponse:
        """POST /api/tasks/{id}/{retry|revoke}"""
        action = TASK_ACTIONS.get(request.path_params["action"])
        if action is None:
            return error(404, f"no task action {request.path_params['action']!r}")
        return await self._act(
            request, lambda form: action(self.board.app, request.path_params["task_id"], form)
        )

    async def queue_action(self, request: Request) -> JSONResponse:
        """POST /api/queues/{queue}/{pause|resume|dead/requeue|dead/purge}"""
        action = QUEUE_ACTIONS.get(request.path_params["action"])
        if action is None:
            return error(404, f"no queue action {request.path_params['action']!r}")
        return await self._act(
            request, lambda form: action(self.board.app, request.path_params["queue"], form)
        )

    async def _act(self, request: Request, run: Any) -> JSONResponse:
        try:
            self.board.guard.check_post(request, None)
            body = await request.body()
            form = json.loads(body) if body else {}
            if not isinstance(form, dict):
                return error(400, "the body must be a JSON object")
            fields = {key: str(value) for key, value in form.items()}
            return answer(await run_in_threadpool(run, fields))  # database and broker calls block
        except Refused as exc:
            return error(exc.status, exc.reason)
        except ActionFailed as exc:
            return error(exc.status, str(exc))
        except ValueError as exc:
            return error(400, f"the body is not JSON: {exc}")
