"""The dashboard as an ASGI application, to serve or to mount in an app of one's own."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette

from arame import App
from arame.dashboard.context import dashboard
from arame.dashboard.routes import application


def asgi_app(app: App, *, token: str | None = None, allowed_hosts: Iterable[str] = ()) -> Starlette:
    """An ASGI application showing ``app``'s queues, tasks and workers.

    Args:
        app: the arame App whose broker and results database to show.
        token: a secret every request must carry (``Authorization: Bearer TOKEN``, or the
            cookie the login page sets); without one, anyone who reaches it may look and act.
        allowed_hosts: the names it may be reached by (its ``Host`` header), besides the address
            a request arrives on and localhost; ``["*"]``: any, when a proxy in front checks.
    """
    return application(dashboard(app, token), allowed_hosts)
