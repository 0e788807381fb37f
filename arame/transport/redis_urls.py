"""Redis Cluster and Sentinel URLs: the seed nodes or sentinels, and the options they take.

Kombu's URL parser knows neither a list of hosts nor options such as ``master_name``, and hands
``redis+<anything>://`` to its stock Redis transport on localhost. So arame reads these URLs
itself: Kombu gets one plain host (``redis://`` or ``sentinel://``, the first node) and the
transport options carry the rest (``cluster_nodes``, or ``sentinels`` and ``master_name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from arame.database.database_urls import redact_url, scheme_of
from arame.errors import ConfigurationError

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

#: Options a Redis URL may carry in its query (``ssl_*`` ones go to Kombu as they are).
FLOAT_OPTIONS = ("socket_timeout", "socket_connect_timeout", "health_check_interval")
CLUSTER_OPTIONS = (*FLOAT_OPTIONS, "max_connections")
SENTINEL_OPTIONS = (
    *FLOAT_OPTIONS,
    "max_connections",
    "master_name",
    "sentinel_username",
    "sentinel_password",
    "sentinel_socket_timeout",
)


def is_cluster(scheme: str) -> bool:
    """Whether ``scheme`` names a Redis Cluster."""
    return scheme in CLUSTER_SCHEMES


def parse_cluster(url: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``redis+cluster://[user:password@]host:port[,host:port...][/0][?options]``.

    Returns:
        The URL Kombu gets (the first seed node) and the transport options.

    Raises:
        ConfigurationError: no node, a bad port, a database other than 0, an unknown option.
    """
    scheme = scheme_of(url)
    userinfo, hosts, path, query = _split(url)
    nodes = [_host_port(host, DEFAULT_PORT, url) for host in hosts]
    if _database(path, url) != 0:
        raise ConfigurationError(
            f"a Redis Cluster has only database 0, not {path.strip('/')!r} ({redact_url(url)!r}): "
            "drop the database from the URL, or give each app its own queue names"
        )
    ssl, settings = _options(query, CLUSTER_OPTIONS, url)
    settings = {**settings, **options, "cluster_nodes": [f"{h}:{p}" for h, p in nodes]}
    host, port = nodes[0]
    return f"{CLUSTER_SCHEMES[scheme]}://{userinfo}{_netloc(host, port)}/0{ssl}", settings


def parse_sentinel(url: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``sentinel://[user:password@]host:port[;sentinel://host:port...][/db][?master_name=...]``.

    The login of the URL is the master's (as on ``redis://``); the sentinels' own is
    ``sentinel_username`` / ``sentinel_password``. Any part of the list may carry the database
    and the options.

    Returns:
        The URL Kombu gets (the first sentinel) and the transport options.

    Raises:
        ConfigurationError: no ``master_name``, a part that is not ``sentinel://``, a bad port.
    """
    parts = [part.strip() for part in url.split(";") if part.strip()]
    if any(scheme_of(part) != "sentinel" for part in parts):
        raise ConfigurationError(
            f"a failover list of sentinels must give only sentinel:// URLs ({redact_url(url)!r})"
        )
    sentinels: list[tuple[str, int]] = []
    login, database, ssl = "", 0, ""
    settings: dict[str, Any] = {}
    for part in parts:
        userinfo, hosts, path, query = _split(part)
        sentinels += [_host_port(host, DEFAULT_SENTINEL_PORT, url) for host in hosts]
        login = login or userinfo
        database = database or _database(path, url)
        part_ssl, part_settings = _options(query, SENTINEL_OPTIONS, url)
        ssl, settings = ssl or part_ssl, {**settings, **part_settings}
    settings = {**settings, **options, "sentinels": [f"{h}:{p}" for h, p in sentinels]}
    if not settings.get("master_name"):
        raise ConfigurationError(
            f"{redact_url(url)!r} names no master: add ?master_name=NAME to the URL, or "
            "App(broker_options={'master_name': NAME})"
        )
    host, port = sentinels[0]
    return f"sentinel://{login}{_netloc(host, port)}/{database}{ssl}", settings


def refuse_unknown(url: str) -> ConfigurationError:
    """The error for a ``redis+<something>://`` URL arame has no transport for."""
    return ConfigurationError(
        f"arame has no transport for {scheme_of(url) + '://'!r} ({redact_url(url)!r}); Redis is "
        "reached by redis://, rediss://, redis+cluster://, rediss+cluster:// or sentinel://"
    )


def _split(url: str) -> tuple[str, list[str], str, str]:
    """(``user:password@`` or "", the hosts, the path, the query) of ``url``."""
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    found = [host.strip() for host in hosts.split(",") if host.strip()]
    if not found:
        raise ConfigurationError(f"{redact_url(url)!r} names no host")
    return userinfo + at, found, slash + path, query


def _host_port(text: str, default: int, url: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    try:
        number = int(port) if port else default
    except ValueError:
        number = -1
    if not host or not 0 < number < 65536:
        raise ConfigurationError(f"{text!r} in {redact_url(url)!r} is not host:port")
    return host, number


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _database(path: str, url: str) -> int:
    text = path.strip("/") or "0"
    try:
        return int(text)
    except ValueError:
        raise ConfigurationError(
            f"the Redis database must be a number, not {text!r} ({redact_url(url)!r})"
        ) from None


def _options(query: str, allowed: tuple[str, ...], url: str) -> tuple[str, dict[str, Any]]:
    """The ``ssl_*`` part of a query (as Kombu takes it) and the other options, checked."""
    ssl: list[tuple[str, str]] = []
    settings: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.startswith("ssl_"):
            ssl.append((key, value))
        elif key not in allowed:
            raise ConfigurationError(
                f"unknown option {key!r} in {redact_url(url)!r}; accepted: {', '.join(allowed)}, ssl_*"
            )
        else:
            settings[key] = _value(key, value, url)
    return ("?" + urlencode(ssl)) if ssl else "", settings


def _value(key: str, value: str, url: str) -> Any:
    if key == "max_connections" or key.endswith("timeout") or key in FLOAT_OPTIONS:
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number <= 0:
            raise ConfigurationError(f"{key} must be a positive number, not {value!r} ({redact_url(url)!r})")
        return int(number) if key == "max_connections" else number
    return value
