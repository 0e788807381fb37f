"""Whether a broker can be reached from outside this machine: then whoever can publish to it is
trusted unless messages are signed (docs/guarantees.md, "Who is trusted")."""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qs, unquote, urlsplit

from arame.transport.broker_urls import BrokerSpec


def exposed_hosts(spec: BrokerSpec) -> list[str]:
    """The hosts of ``spec`` that are neither loopback nor a unix socket (names are not resolved).

    A URL without a host (``memory://``, a SQLite file, a socket by default) names none.
    """
    hosts = [host for part in spec.safe_url.split(";") for host in _hosts_of(part.strip())]
    return [host for host in hosts if not _local(host)]


def _hosts_of(url: str) -> list[str]:
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]  # after any user and (masked) password
    hosts = [unquote(_host(item)) for item in netloc.split(",") if item]  # a cluster lists its nodes
    # libpq's host=… (a socket directory, or several hosts) in a database URL's query.
    hosts += [host for value in parse_qs(parts.query).get("host", []) for host in value.split(",")]
    return [host for host in hosts if host]


def _host(item: str) -> str:
    if item.startswith("["):  # [::1]:5672
        return item[1 : item.find("]")]
    return item.rpartition(":")[0] if ":" in item else item


def _local(host: str) -> bool:
    if host.startswith("/") or host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may point anywhere
