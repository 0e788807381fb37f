"""What every handler shares: the app, the guard, the templates; and reading a request's filters."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from arame import App
from arame.dashboard.login_throttle import FailedLogins
from arame.dashboard.security import Guard
from arame.results.browse import LISTED_STATES, MAX_PAGE, Cursor, TaskFilter

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Dashboard:
    """The app a dashboard shows, the guard in front of it and its count of failed logins."""

    app: App
    guard: Guard
    templates: Jinja2Templates
    logins: FailedLogins = field(default_factory=FailedLogins)


def dashboard(app: App, token: str | None) -> Dashboard:
    """The shared state of one dashboard over ``app``."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), auto_reload=False
    )
    return Dashboard(app, Guard(token), Jinja2Templates(env=environment))


class BadRequest(Exception):
    """A query parameter that cannot be read."""


#: The query parameters of the task list (``msg`` is the page's note after an action).
LIST_PARAMETERS = frozenset({"state", "task", "queue", "since", "until", "after", "limit", "all"})


def known_parameters(request: Request, known: Collection[str]) -> None:
    """Refuse a parameter the endpoint does not read: a misspelt filter must not list everything.

    Raises:
        BadRequest: naming the first unknown parameter.
    """
    for name in request.query_params:
        if name not in known:
            raise BadRequest(f"unknown parameter {name!r} (known: {', '.join(sorted(known))})")


def task_filter(request: Request) -> TaskFilter:
    """The list's filters from the query string (``state``, ``task``, ``queue``, ``since``, ``until``).

    Raises:
        BadRequest: a state that does not exist, a time that is not ISO 8601 or out of range.
    """
    query = request.query_params
    state = query.get("state") or None
    if state is not None and state not in LISTED_STATES:
        raise BadRequest(f"no state {state!r} (one of {', '.join(LISTED_STATES)})")
    return TaskFilter(
        state=state,
        task_name=query.get("task") or None,
        queue=query.get("queue") or None,
        since=_moment("since", query.get("since")),
        until=_moment("until", query.get("until")),
    )


def show_all(request: Request) -> bool:
    """``?all=1``: every app's queues, rows and workers of the results database, not only this app's."""
    return request.query_params.get("all", "") not in {"", "0", "false", "no"}


def scoped_filter(request: Request, app: App) -> TaskFilter:
    """``task_filter``, kept to the app's queues unless ``?all=1`` or ``?queue=`` names one.

    Raises:
        BadRequest: as ``task_filter``.
    """
    where = task_filter(request)
    if show_all(request) or where.queue:
        return where
    return replace(where, queues=frozenset(app.own_queues()))


def cursor(request: Request) -> Cursor | None:
    """The page cursor from ``?after=``, if any.

    Raises:
        BadRequest: it is not a cursor.
    """
    text = request.query_params.get("after")
    if not text:
        return None
    try:
        found = Cursor.decode(text)
        return Cursor(_utc(found.created_at), found.id)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"after is not a page cursor: {text!r}") from exc


def limit(request: Request, default: int = 50) -> int:
    """The page size from ``?limit=`` (above ``MAX_PAGE``, ``MAX_PAGE``).

    Raises:
        BadRequest: it is not a whole number of at least 1.
    """
    text = request.query_params.get("limit")
    try:
        size = default if not text else int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}, not {text!r}")
    return size


def _moment(name: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{name} is not an ISO 8601 time in range: {text!r}") from exc


def _utc(moment: datetime) -> datetime:
    # In UTC here, so a time that has none (year 1 at +14:00) fails now, not in the database.
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
