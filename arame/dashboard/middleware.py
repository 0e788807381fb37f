"""What wraps every response: the ``Host`` check against DNS rebinding, and the security headers.

A page on another site can rebind its own name to 127.0.0.1; the browser then treats the
dashboard as that site's own origin (the Origin check passes) and sends ``Host: its.name``. So a
request is answered only when its ``Host`` names the address the connection arrived on, a
localhost name, or a host the operator allowed.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script or style, nothing from elsewhere, never framed (clickjacking).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
ANY_HOST = "*"


class Hardened:
    """ASGI middleware: refuse a foreign ``Host`` with 400, add ``HEADERS`` to every response.

    Args:
        app: the dashboard's Starlette application.
        allowed_hosts: names (or addresses) besides the connection's own address and localhost
            that ``Host`` may carry; ``"*"`` allows any (when something in front checks it).
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {_normal(host) for host in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan; the dashboard has no websocket routes
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if not self.host_allowed(host, scope.get("server")):
            await _refuse(send, host)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_hardened)

    def host_allowed(self, host: str | None, server: tuple[str, int | None] | None) -> bool:
        """Whether a request with ``Host: host`` that arrived on the local address ``server``
        may be answered."""
        if ANY_HOST in self.allowed:
            return True
        try:
            name = urlsplit(f"//{host}").hostname if host else None
        except ValueError:  # an unbalanced "[" in an IPv6 literal
            return False
        if not name:
            return False
        name = _normal(name)
        if name == "localhost" or name.endswith(".localhost") or name in self.allowed:
            return True  # browsers resolve *.localhost to loopback themselves, never through DNS
        return server is not None and _same_address(name, server[0])


def _normal(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")


def _same_address(name: str, local: str) -> bool:
    try:
        address, arrived = ipaddress.ip_address(name), ipaddress.ip_address(local)
    except ValueError:
        return False
    if isinstance(arrived, ipaddress.IPv6Address) and arrived.ipv4_mapped is not None:
        arrived = arrived.ipv4_mapped  # an IPv4 client of a dual-stack socket
    return address == arrived


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse(send: Send, host: str | None) -> None:
    reason = (
        f"this dashboard does not answer to Host {host!r}: open it by the address it listens on, "
        "or allow the name (arame dashboard --allowed-host NAME, asgi_app(allowed_hosts=[...]))"
    )
    body = json.dumps({"error": reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers + HEADERS})
    await send({"type": "http.response.body", "body": body})
