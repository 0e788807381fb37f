"""Fanout on arame's Redis transport: the topic prefix option, and the refusal on a cluster."""

from __future__ import annotations

import pytest

import arame
from arame.transport import parse_broker_url
from arame.transport.connection import connect
from arame.transport.redis_queue.fanout import topic_prefix


def test_the_fanout_prefix_option_is_read_as_kombu_reads_it():
    assert topic_prefix(True, 3) == "/3."
    assert topic_prefix("events:", 3) == "events:"
    assert topic_prefix(False, 3) == ""


def test_a_fanout_prefix_that_is_neither_a_boolean_nor_a_string_is_refused_with_a_clear_error():
    with pytest.raises(arame.ConfigurationError, match="fanout_prefix must be"):
        topic_prefix(5, 0)


def test_a_redis_cluster_refuses_a_fanout_exchange_at_declaration():
    # No server is reached: the declaration is refused before anything is sent.
    transport = connect(parse_broker_url("redis+cluster://127.0.0.1:1,127.0.0.1:2")).transport
    channel = transport.create_channel(transport)

    with pytest.raises(arame.ConfigurationError, match=r"'fanout' exchanges .* would be lost"):
        channel.exchange_declare("broadcast", "fanout")
    channel.exchange_declare("routed", "topic")
