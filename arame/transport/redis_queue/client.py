"""A redis-py client for a Kombu connection: host, database, login and TLS as Kombu parsed them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

DEFAULT_PORT = 6379
SOCKET_TIMEOUT = 30.0  # a server that vanished without closing the socket must not hang us forever

#: Transport options handed to redis-py as they are.
PASSED_THROUGH = ("socket_timeout", "socket_keepalive", "health_check_interval", "max_connections")


def create_client(conninfo: Any, options: Mapping[str, Any]) -> redis.Redis:
    """A client for the server and database of ``conninfo`` (a ``kombu.Connection``).

    ``rediss://`` gives TLS; its ``ssl_*`` URL options (``ssl_cert_reqs``, ``ssl_ca_certs``,
    ``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``) reach redis-py unchanged, with
    Kombu's defaults, as Kombu's own Redis transport passes them.

    Raises:
        ValueError: the database part of the URL is not a number.
    """
    params: dict[str, Any] = {
        "host": conninfo.hostname or "127.0.0.1",
        "port": conninfo.port or DEFAULT_PORT,
        "db": database_number(conninfo.virtual_host),
        "username": conninfo.userid or None,
        "password": conninfo.password or None,
        "socket_connect_timeout": conninfo.connect_timeout,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "decode_responses": True,
        # One immediate retry on a fresh connection covers a pooled socket the server has closed
        # (restart, idle timeout). Longer outages are Kombu's to retry: redis-py's default (three
        # retries with backoff, seconds per command) would only delay reporting a dead server.
        "retry": Retry(NoBackoff(), 1),
    }
    params.update({name: options[name] for name in PASSED_THROUGH if name in options})
    if isinstance(conninfo.ssl, Mapping):
        params.update(ssl=True, **conninfo.ssl)
    elif conninfo.ssl:
        params["ssl"] = True
    return redis.Redis(**params)


def database_number(virtual_host: str | int | None) -> int:
    """The database of a URL path: ``"/3"``, ``"3"`` or nothing (0).

    Raises:
        ValueError: not a number.
    """
    text = str(virtual_host or "").strip("/") or "0"
    try:
        return int(text)
    except ValueError as exc:
        raise ValueError(f"the Redis database must be a number, not {text!r}") from exc
