"""Redis Cluster and Sentinel URLs: what they select, what they refuse, and one slot per queue."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

import arame
from arame.transport import parse_broker_url
from arame.transport.redis_queue.data_model import queue_keys


def test_a_cluster_url_gives_kombu_its_first_seed_node_and_the_transport_every_node() -> None:
    spec = parse_broker_url("redis+cluster://user:secret@10.0.0.1:7001,10.0.0.2,[::1]:7003?socket_timeout=3")
    assert spec.kind == "redis"
    assert spec.url == "redis://user:secret@10.0.0.1:7001/0"
    assert spec.options == {
        "cluster_nodes": ["10.0.0.1:7001", "10.0.0.2:6379", "::1:7003"],
        "socket_timeout": 3.0,
    }
    assert "secret" not in spec.safe_url
    assert spec.capabilities.leases


def test_a_tls_cluster_url_keeps_its_ssl_options_for_kombu() -> None:
    spec = parse_broker_url("rediss+cluster://h1:7001,h2:7002/0?ssl_cert_reqs=required")
    assert spec.url == "rediss://h1:7001/0?ssl_cert_reqs=required"


@pytest.mark.parametrize("database", ["/1", "/15"])
def test_a_cluster_url_naming_a_database_other_than_0_is_refused(database: str) -> None:
    with pytest.raises(arame.ConfigurationError, match="only database 0"):
        parse_broker_url(f"redis+cluster://h1:7001,h2:7002{database}")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("redis+cluster://", "names no host"),
        ("redis+cluster://h1:port", "is not host:port"),
        ("redis+cluster://h1:70000", "is not host:port"),
        ("redis+cluster://h1:7001?master_name=x", "unknown option 'master_name'"),
        ("redis+cluster://h1:7001?socket_timeout=soon", "socket_timeout must be a positive number"),
        ("redis+cluster://h1:7001;redis://h2:6379", "cannot mix"),
        ("redis://h2:6379;redis+cluster://h1:7001", "cannot mix"),
    ],
)
def test_a_malformed_cluster_url_is_refused_with_a_clear_error(url: str, error: str) -> None:
    with pytest.raises(arame.ConfigurationError, match=error):
        parse_broker_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis+socket:///var/run/redis.sock",
        "redis+sentinel://h:26379",
        "rediss+socket:///tmp/r.sock",
        "redis+foo://h",
    ],
)
def test_a_redis_plus_scheme_arame_does_not_serve_is_refused_never_sent_to_another_transport(
    url: str,
) -> None:
    with pytest.raises(arame.ConfigurationError, match="arame has no transport for"):
        parse_broker_url(url)


def test_a_sentinel_list_gives_every_sentinel_the_master_name_and_the_database() -> None:
    spec = parse_broker_url(
        "sentinel://:secret@s1:26379;sentinel://s2;sentinel://s3:26400/2"
        "?master_name=main&sentinel_password=hidden&socket_timeout=2.5"
    )
    assert spec.kind == "redis"
    assert spec.url == "sentinel://:secret@s1:26379/2"
    assert spec.options == {
        "sentinels": ["s1:26379", "s2:26379", "s3:26400"],
        "master_name": "main",
        "sentinel_password": "hidden",
        "socket_timeout": 2.5,
    }
    assert "secret" not in spec.safe_url and "hidden" not in spec.safe_url


def test_a_sentinel_url_without_a_master_name_is_refused_and_says_where_to_give_it() -> None:
    with pytest.raises(arame.ConfigurationError, match=r"names no master: add \?master_name=NAME"):
        parse_broker_url("sentinel://s1:26379;sentinel://s2:26379")


def test_the_app_gives_the_sentinel_options_the_url_does_not_carry() -> None:
    app = arame.App(
        broker="sentinel://s1:26379",
        results="sqlite://",
        broker_options={"master_name": "main", "sentinel_password": "hidden"},
    )
    assert app.broker.options["master_name"] == "main"
    assert app.broker.options["sentinels"] == ["s1:26379"]
    app.close()


def test_a_failover_list_mixing_sentinels_and_servers_is_refused() -> None:
    with pytest.raises(arame.ConfigurationError, match="sentinel://"):
        parse_broker_url("sentinel://s1:26379?master_name=m;redis://h:6379")


@pytest.mark.parametrize("queue", ["default", "emails", "a.b-c", "tenant:42", "{braced}", "x}y", "ünïcode"])
def test_every_key_and_the_wake_up_channel_of_a_queue_share_one_cluster_slot(queue: str) -> None:
    # The scripts touch only these keys: a cluster runs them on one node only if they share a slot.
    names = [*queue_keys(queue), f"arame:0:{{{queue}}}:wake"]
    assert len({key_slot(name.encode()) for name in names}) == 1
