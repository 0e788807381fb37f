"""RabbitMQ queue types: which type each queue is declared as, and with which arguments."""

from __future__ import annotations

import pytest

from arame.errors import ConfigurationError
from arame.transport import parse_broker_url, with_queue_types
from arame.transport.amqp_delay import delay_queue
from arame.transport.connection import kombu_queue
from arame.transport.queue_types import QueueTypes, queue_arguments


def test_a_queue_is_classic_unless_the_app_or_the_queue_says_quorum():
    types = QueueTypes("classic", {"emails": "quorum"})
    assert types.wanted("default") == "classic"
    assert types.wanted("emails") == "quorum"


def test_dead_letter_and_delay_queues_follow_their_queue():
    types = QueueTypes("classic", {"emails": "quorum"})
    assert types.wanted("emails.dead") == "quorum"
    assert types.wanted("emails.delay.1500") == "quorum"
    assert types.wanted("default.delay.10") == "classic"


def test_a_quorum_queue_is_declared_without_priorities_and_with_a_delivery_limit_and_dead_lettering():
    arguments = queue_arguments("quorum", "emails")
    assert "x-max-priority" not in arguments
    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-delivery-limit"] == 100
    assert arguments["x-dead-letter-routing-key"] == "emails.dead"
    assert arguments["x-dead-letter-strategy"] == "at-least-once"
    assert arguments["x-overflow"] == "reject-publish"
    assert queue_arguments("quorum", "emails.dead") == {"x-queue-type": "quorum"}
    assert queue_arguments("classic", "emails") == {"x-max-priority": 9}


def test_a_quorum_delay_queue_dead_letters_into_its_queue_at_least_once():
    queue = delay_queue("emails", 1500, QueueTypes("quorum"))
    quorum = queue.arguments_by_type["quorum"]
    assert quorum["x-dead-letter-routing-key"] == "emails"
    assert quorum["x-dead-letter-strategy"] == "at-least-once"
    assert quorum["x-message-ttl"] == 1500
    assert "x-queue-type" not in queue.arguments_by_type["classic"]


def test_queue_types_mean_nothing_to_brokers_other_than_rabbitmq():
    spec = with_queue_types(parse_broker_url("redis://127.0.0.1:6379/0"), "quorum", {}, 5)
    assert kombu_queue(spec, "emails").queue_arguments in (None, {})


@pytest.mark.parametrize("default, per_queue", [("qourum", {}), ("classic", {"emails": "stream"})])
def test_an_unknown_queue_type_is_refused(default, per_queue):
    with pytest.raises(ConfigurationError, match="unknown queue type"):
        with_queue_types(parse_broker_url("amqp://"), default, per_queue, 5)
