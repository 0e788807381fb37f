"""The dashboard: pages and a JSON API over the results table, the queues and the workers.

Run it with ``arame dashboard -A MODULE``, or mount it in an ASGI app of your own::

    from fastapi import FastAPI
    import arame.dashboard
    from shop.tasks import app as arame_app

    web = FastAPI()
    web.mount("/arame", arame.dashboard.asgi_app(arame_app, token="s3cret", allowed_hosts=["shop.example"]))

Needs the ``dashboard`` extra (Starlette, Jinja2, uvicorn).
"""

from __future__ import annotations

from arame.dashboard.asgi import asgi_app
from arame.dashboard.server import serve

__all__ = ["asgi_app", "serve"]
