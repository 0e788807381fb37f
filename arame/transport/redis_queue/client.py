"""A redis-py client for a Kombu connection: one server, a Redis Cluster, or a master behind sentinels."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

DEFAULT_PORT = 6379
SOCKET_TIMEOUT = 30.0  # a server that vanished without closing the socket must not hang us forever
SENTINEL_TIMEOUT = 1.0  # seconds to wait for one sentinel before asking the next
# While a failed master's replica takes over, the master's address refuses connections, or a
# cluster answers CLUSTERDOWN: retries a little apart ride out a failover of a few seconds
# before Kombu (and a worker's reconnect loop) is told.
FAILOVER_RETRY = (0.1, 1.0, 5)  # first delay, longest delay, retries (about 3 s of waits in all)
FAILOVER_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
)

#: Transport options handed to redis-py as they are.
PASSED_THROUGH = (
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "health_check_interval",
    "max_connections",
)

#: What ``create_client`` returns: a client for one server, or for a whole cluster.
Client = redis.Redis | RedisCluster


def create_client(conninfo: Any, options: Mapping[str, Any]) -> Client:
    """A client for the server, cluster or sentinel-guarded master of ``conninfo`` (a Kombu connection).

    ``rediss://`` gives TLS; its ``ssl_*`` URL options (``ssl_cert_reqs``, ``ssl_ca_certs``,
    ``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``) reach redis-py unchanged, with
    Kombu's defaults, as Kombu's own Redis transport passes them. ``cluster_nodes`` in the
    options (from ``redis+cluster://``) gives a cluster client; ``sentinels`` and ``master_name``
    (from ``sentinel://``) a client of whichever server the sentinels name as the master.

    Raises:
        ValueError: the database part of the URL is not a number.
    """
    params = _params(conninfo, options)
    if options.get("cluster_nodes"):
        return _cluster_client(params, options["cluster_nodes"])
    if options.get("sentinels"):
        return _sentinel_client(params, options)
    return redis.Redis(**params)


def _params(conninfo: Any, options: Mapping[str, Any]) -> dict[str, Any]:
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
    return params


def _cluster_client(params: dict[str, Any], nodes: list[str]) -> RedisCluster:
    del params["host"], params["port"], params["db"]  # the nodes say where; a cluster has only db 0
    startup = [ClusterNode(host, int(port)) for host, _, port in (node.rpartition(":") for node in nodes)]
    return FailoverCluster(startup_nodes=startup, **params)


class FailoverCluster(RedisCluster):
    """A cluster client that waits out a failover instead of failing within milliseconds.

    redis-py's own retries re-read the slots and try again at once, all of them within the
    node timeout that must pass before a replica takes over; these come a little apart.
    """

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        first, longest, retries = FAILOVER_RETRY
        for attempt in range(retries + 1):
            try:
                return super().execute_command(*args, **kwargs)
            except FAILOVER_ERRORS:
                if attempt == retries:
                    raise
                time.sleep(min(longest, first * 2**attempt))
        raise AssertionError("unreachable")


def _sentinel_client(params: dict[str, Any], options: Mapping[str, Any]) -> redis.Redis:
    sentinels = [
        (host, int(port)) for host, _, port in (node.rpartition(":") for node in options["sentinels"])
    ]
    del params["host"], params["port"]  # the sentinels say where the master is, now and after a failover
    params["retry"] = _failover_retry()
    sentinel_kwargs = {
        "socket_timeout": options.get("sentinel_socket_timeout", SENTINEL_TIMEOUT),
        "socket_connect_timeout": options.get("sentinel_socket_timeout", SENTINEL_TIMEOUT),
        "username": options.get("sentinel_username"),
        "password": options.get("sentinel_password"),
        **options.get("sentinel_kwargs", {}),
    }
    # A master_for client asks the sentinels for the master at each new connection, and drops a
    # connection that answers READONLY (a demoted master): the next command finds the new one.
    sentinel = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
    client: redis.Redis = sentinel.master_for(options["master_name"], **params)
    return client


def _failover_retry() -> Retry:
    first, longest, retries = FAILOVER_RETRY
    return Retry(ExponentialBackoff(cap=longest, base=first), retries)


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
