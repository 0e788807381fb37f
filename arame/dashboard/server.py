"""Serving the dashboard on its own with uvicorn, refusing an open address without a token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arame import App, ConfigurationError
from arame.dashboard.security import is_loopback

if TYPE_CHECKING:
    import uvicorn

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8700


def server(
    app: App, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None
) -> uvicorn.Server:
    """A uvicorn server for ``app``'s dashboard, not yet started.

    Raises:
        ConfigurationError: ``host`` is not a loopback address and no token is given.
    """
    import uvicorn

    from arame.dashboard import asgi_app

    if not token and not is_loopback(host):
        raise ConfigurationError(
            f"the dashboard refuses to listen on {host} without a token: pass --token "
            "(anyone who reaches it could retry, revoke and purge), or bind to 127.0.0.1"
        )
    config = uvicorn.Config(
        asgi_app(app, token=token), host=host, port=port, log_level="info", access_log=False
    )
    return uvicorn.Server(config)


def serve(app: App, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None) -> None:
    """Serve ``app``'s dashboard until interrupted (see ``server``)."""
    server(app, host, port, token).run()
