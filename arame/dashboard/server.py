"""Serving the dashboard on its own with uvicorn, refusing an open address without a token."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from arame import App, ConfigurationError
from arame.dashboard.security import is_loopback

if TYPE_CHECKING:
    import uvicorn

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8700


def server(
    app: App,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> uvicorn.Server:
    """A uvicorn server for ``app``'s dashboard, not yet started.

    Requests must name it (``Host``) by the address they arrive on, a localhost name, ``host``
    when it is a name, or one of ``allowed_hosts``.

    Raises:
        ConfigurationError: ``host`` is not a loopback address and no token is given.
    """
    import uvicorn

    from arame.dashboard.asgi import asgi_app  # Starlette and Jinja2: only when served

    refuse_exposure(host, token)
    names = [*allowed_hosts, *([] if _any_address(host) else [host])]
    config = uvicorn.Config(
        asgi_app(app, token=token, allowed_hosts=names),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )
    return uvicorn.Server(config)


def refuse_exposure(host: str, token: str | None) -> None:
    """Refuse to listen on an address off this machine without a token.

    Raises:
        ConfigurationError: ``host`` is not a loopback address and ``token`` is empty.
    """
    if not token and not is_loopback(host):
        raise ConfigurationError(
            f"the dashboard refuses to listen on {host} without a token: pass --token-file or set "
            "ARAME_DASHBOARD_TOKEN (anyone who reaches it could retry, revoke and purge), "
            "or bind to 127.0.0.1"
        )


def serve(
    app: App,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> None:
    """Serve ``app``'s dashboard until interrupted (see ``server``)."""
    server(app, host, port, token, allowed_hosts).run()


def _any_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified  # 0.0.0.0, ::
    except ValueError:
        return not host
