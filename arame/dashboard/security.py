"""Who may look and who may act: the token, and protection of the forms against other sites.

With a token, every request must carry it: ``Authorization: Bearer TOKEN`` (scripts) or the
cookie the login form sets (browsers). Every POST must also come from this site: its ``Origin``
(or ``Referer``) must name this host, and a form must echo the CSRF cookie in a field
(double submit); an API call must be ``application/json``, which a foreign page cannot send
without a CORS preflight this app never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

TOKEN_COOKIE = "arame_token"
CSRF_COOKIE = "arame_csrf"
CSRF_FIELD = "csrf"


class Refused(Exception):
    """A request the guard turns away, with the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Guard:
    """Checks requests against an optional token.

    Args:
        token: the secret every request must carry; ``None`` lets anyone who can reach it in.
    """

    def __init__(self, token: str | None) -> None:
        self.token = token or None

    def authorised(self, request: Request) -> bool:
        """Whether the request carries the token (always, without one)."""
        if self.token is None:
            return True
        header = request.headers.get("authorization", "")
        offered = (
            header[7:] if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE, "")
        )
        return self.matches(offered)

    def matches(self, offered: str) -> bool:
        """Whether ``offered`` is the token, compared in constant time."""
        return self.token is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def check_post(self, request: Request, form_csrf: str | None) -> None:
        """Refuse a POST without the token, from another site, or (a form) without the CSRF field.

        Raises:
            Refused: 401 without the token, 403 for a cross-site or unprotected request.
        """
        if not self.authorised(request):
            raise Refused(401, "the dashboard token is missing or wrong")
        if not same_origin(request):
            raise Refused(403, "cross-site request refused (Origin does not match this host)")
        if form_csrf is None:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                raise Refused(403, "an API action must be sent as application/json")
            return
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), form_csrf.encode()):
            raise Refused(403, "the form's CSRF token does not match; reload the page")


def same_origin(request: Request) -> bool:
    """Whether the request's Origin (else Referer), when it has one, names this very host."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None  # "null" is an opaque origin: a sandboxed or file page
    parts = urlsplit(source)
    return parts.netloc == request.headers.get("host", "")


def safe_back(back: str | None, default: str) -> str:
    """``back`` if it is a path on this site, else ``default``.

    A form's ``back`` field says where the browser goes after the action (and the error page's
    link): an absolute URL, ``//host`` or ``javascript:`` there would send the user, or run
    script, elsewhere.
    """
    if not back or not back.startswith("/") or back.startswith("//"):
        return default
    # Browsers read a backslash as a slash ("/\host" is "//host") and drop tabs and newlines.
    if "\\" in back or not back.isprintable() or any(char.isspace() for char in back):
        return default
    parts = urlsplit(back)
    return default if parts.scheme or parts.netloc else back


def new_csrf_token() -> str:
    """A fresh random value for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the dashboard on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
