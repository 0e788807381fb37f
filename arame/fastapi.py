"""FastAPI (and Starlette): a lifespan that runs an embedded worker, and a dependency for the App.

::

    from fastapi import Depends, FastAPI
    from arame.fastapi import get_app, lifespan

    api = FastAPI(lifespan=lifespan(app, queues=["default"], concurrency=2))

    @api.post("/reports")
    async def create(app: arame.App = Depends(get_app)) -> dict[str, str]:
        return {"id": (await build_report.adelay(2025)).id}

``lifespan(app, worker=False)`` runs no worker: the service only publishes, and ``arame worker``
runs elsewhere (the usual split in production).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from arame.extras import require_extra

require_extra("starlette", "fastapi", "arame.fastapi")  # one clear line rather than "No module named ..."

from starlette.requests import Request  # noqa: E402

from arame import App  # noqa: E402


def lifespan(
    app: App, *, worker: bool = True, queues: Sequence[str] | None = None, concurrency: int | None = None
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan that starts a thread-pool worker with the service and stops it with it.

    On shutdown, running tasks finish and are acknowledged before the service exits; the
    broker connection and the database pool are closed.
    """

    @contextlib.asynccontextmanager
    async def run(service: Any) -> AsyncIterator[None]:
        service.state.arame = app
        embedded = app.worker(queues, concurrency, pool="thread") if worker else None
        if embedded is not None:
            embedded.start()
        try:
            yield
        finally:
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)  # it waits for running tasks: not on the loop
            app.close()

    return run


def get_app(request: Request) -> App:
    """A dependency: the App of the service's lifespan (``Depends(get_app)``)."""
    app: App = request.app.state.arame
    return app
