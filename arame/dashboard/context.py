"""What every handler shares: the app, the guard, the templates; and reading a request's filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from arame import App
from arame.dashboard.security import Guard
from arame.results.browse import Cursor, TaskFilter

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Dashboard:
    """The app a dashboard shows and the guard in front of it."""

    app: App
    guard: Guard
    templates: Jinja2Templates


def dashboard(app: App, token: str | None) -> Dashboard:
    """The shared state of one dashboard over ``app``."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), auto_reload=False
    )
    return Dashboard(app, Guard(token), Jinja2Templates(env=environment))


class BadRequest(Exception):
    """A query parameter that cannot be read."""


def task_filter(request: Request) -> TaskFilter:
    """The list's filters from the query string (``state``, ``task``, ``queue``, ``since``, ``until``).

    Raises:
        BadRequest: a time is not ISO 8601.
    """
    query = request.query_params
    return TaskFilter(
        state=query.get("state") or None,
        task_name=query.get("task") or None,
        queue=query.get("queue") or None,
        since=_moment(query.get("since")),
        until=_moment(query.get("until")),
    )


def cursor(request: Request) -> Cursor | None:
    """The page cursor from ``?after=``, if any.

    Raises:
        BadRequest: it is not a cursor.
    """
    text = request.query_params.get("after")
    if not text:
        return None
    try:
        return Cursor.decode(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def limit(request: Request, default: int = 50) -> int:
    """The page size from ``?limit=``.

    Raises:
        BadRequest: it is not a number.
    """
    try:
        return int(request.query_params.get("limit") or default)
    except ValueError as exc:
        raise BadRequest(f"limit must be a number, not {request.query_params.get('limit')!r}") from exc


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"not an ISO 8601 time: {text!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
