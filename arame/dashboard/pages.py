"""The HTML pages: overview, task list, task page, login; and the forms' POST handler."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

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
from arame.dashboard.json_api import error
from arame.dashboard.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    TOKEN_COOKIE,
    Refused,
    new_csrf_token,
    safe_back,
)
from arame.dashboard.tracebacks import fold
from arame.results.browse import LISTED_STATES, list_tasks


class Pages:
    """The pages over one dashboard."""

    def __init__(self, board: Dashboard) -> None:
        self.board = board

    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        """A page, with the CSRF cookie its forms echo (set once per browser)."""
        csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
        root = request.scope.get("root_path", "")
        full = {
            "root": root,
            "csrf": csrf,
            "csrf_field": CSRF_FIELD,
            "message": request.query_params.get("msg"),
        }
        response = self.board.templates.TemplateResponse(
            request, name, {**full, **context}, status_code=status
        )
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path=root or "/")
        return response

    def _login_first(self, request: Request) -> Response | None:
        if self.board.guard.authorised(request):
            return None
        return RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)

    def overview(self, request: Request) -> Response:
        """GET /"""
        if login := self._login_first(request):
            return login
        every = show_all(request)
        data = reads.overview(self.board.app, every)
        context = {
            "data": data,
            "chart": reads.chart(data["per_minute"]),
            "workers": reads.workers(self.board.app, every),
            "every": every,  # the page's refresh reads the same view
        }
        return self.render(request, "overview.html", context)

    def tasks(self, request: Request) -> Response:
        """GET /tasks"""
        if login := self._login_first(request):
            return login
        try:
            known_parameters(request, LIST_PARAMETERS | {"msg"})
            where, after, size = scoped_filter(request, self.board.app), cursor(request), limit(request)
        except BadRequest as exc:
            return self.render(request, "error.html", {"error": str(exc)}, 400)
        page = list_tasks(self.board.app.results, where, after, size)
        shown = {key: value for key, value in request.query_params.items() if key != "after" and value}
        following = urlencode({**shown, "after": page.next.encode()}) if page.next else None
        context = {"page": page, "filters": shown, "states": LISTED_STATES, "next_query": following}
        return self.render(request, "tasks.html", context)

    def task(self, request: Request) -> Response:
        """GET /tasks/{id}"""
        if login := self._login_first(request):
            return login
        found = reads.task(self.board.app, request.path_params["task_id"])
        if found is None:
            return self.render(request, "error.html", {"error": "no task with this id"}, 404)
        traceback = fold(found["traceback"]) if found["traceback"] else None
        context = {"task": found, "pretty": reads.pretty, "traceback": traceback}
        return self.render(request, "task.html", context)

    def login(self, request: Request) -> Response:
        """GET /login"""
        return self.render(request, "login.html", {})

    async def login_post(self, request: Request) -> Response:
        """POST /login: check the token and keep it in a cookie; after a few wrong ones, 429."""
        client = request.client.host if request.client else ""
        if wait := self.board.logins.wait(client):
            reason = f"too many wrong tokens: try again in {wait} s"
            response = self.render(request, "login.html", {"error": reason}, 429)
            response.headers["Retry-After"] = str(wait)
            return response
        form = await request.form()
        root = request.scope.get("root_path", "")
        offered = str(form.get("token", ""))
        if not self.board.guard.matches(offered):
            self.board.logins.failed(client)
            return self.render(request, "login.html", {"error": "wrong token"}, 401)
        self.board.logins.succeeded(client)
        response = RedirectResponse(f"{root}/", status_code=303)
        response.set_cookie(TOKEN_COOKIE, offered, httponly=True, samesite="strict", path=root or "/")
        return response

    async def act(self, request: Request) -> Response:
        """POST /actions/{kind}/{target}/{action}: a form's action, then back where it came from."""
        form = {key: str(value) for key, value in (await request.form()).items()}
        params = request.path_params
        back = safe_back(form.get("back"), f"{request.scope.get('root_path', '')}/")
        try:
            self.board.guard.check_post(request, form.get(CSRF_FIELD, ""))
            table = {"task": TASK_ACTIONS, "queue": QUEUE_ACTIONS}.get(params["kind"], {})
            action = table.get(params["action"])
            if action is None:
                raise ActionFailed(404, f"no {params['kind']} action {params['action']!r}")
            await run_in_threadpool(action, self.board.app, params["target"], form)
        except (Refused, ActionFailed) as exc:
            status = exc.status
            return self.render(request, "error.html", {"error": str(exc), "back": back}, status)
        done = f"{params['action']} {params['target']}: done"
        separator = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{separator}{urlencode({'msg': done})}", status_code=303)

    def unavailable(self, request: Request, exc: Exception) -> Response:
        """503 when the broker or the results database does not answer: JSON under ``/api/``
        and for ``/metrics``, a page elsewhere."""
        path, root = request.scope["path"], request.scope.get("root_path", "")
        path = path[len(root) :] if root and path.startswith(root) else path
        reason = f"unavailable: {exc}"
        if path.startswith("/api/") or path == "/metrics":
            return error(503, reason)
        return self.render(request, "error.html", {"error": reason}, 503)
