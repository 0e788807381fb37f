"""Moving a RabbitMQ queue to another type (classic -> quorum, or back) under the same name.

A queue cannot change type in place: its messages move to a temporary queue of the new type,
the queue is deleted (only once empty, so a message published meanwhile is moved too) and declared
again with the new type, and the messages move back. Each message is acknowledged on its old queue
only after the new one has confirmed it, so a crash midway leaves a copy, never a loss: run the
command again and it finishes the move (what a leftover temporary queue holds moves back too).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from arame.errors import ConfigurationError, TransportError
from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import connect, kombu_queue
from arame.transport.failures import broker_error
from arame.transport.queue_types import QUEUE_TYPES, QueueTypes

logger = logging.getLogger(__name__)

MAX_EMPTYING_ROUNDS = 100  # a queue that keeps filling while it is being deleted: stop producers


def migrating_queue(name: str) -> str:
    """The temporary queue that holds ``name``'s messages during a move."""
    return f"{name}.migrating"


def migrate_queue(spec: BrokerSpec, name: str, to: str) -> int:
    """Move queue ``name`` and its messages to type ``to``; return how many messages moved.

    Workers must be stopped (the queue must have no consumer): a delivered message cannot move.

    Raises:
        ConfigurationError: not RabbitMQ, an unknown type, or the queue has consumers.
        TransportError: the broker failed midway (run it again: nothing is lost).
    """
    if not spec.capabilities.priority_queue_argument:
        raise ConfigurationError(f"queue types are RabbitMQ's; {spec.safe_url} has none")
    if to not in QUEUE_TYPES:
        raise ConfigurationError(f"unknown queue type {to!r}: use one of {', '.join(QUEUE_TYPES)}")
    target = replace(spec, queue_types=QueueTypes(to, {}))
    connection = connect(spec)
    try:
        channel = connection.channel()
        channel.confirm_select()
        temporary = migrating_queue(name)
        # Classic: a quorum queue cannot be deleted "only if empty".
        channel.queue_declare(temporary, durable=True, auto_delete=False)
        _require_no_consumers(channel, name)
        moved = _move_all(channel, name, temporary)
        _delete_when_empty(spec, channel, name, temporary)
        channel.close()
        # A new channel: RabbitMQ 3.10 crashes a channel that used the old queue when it sees the
        # new one under the same name (its state still says classic).
        channel = connection.channel()
        channel.confirm_select()
        kombu_queue(target, name)(channel).declare()
        _move_all(channel, temporary, name)
        channel.queue_delete(temporary, if_empty=True)
    except (ConfigurationError, TransportError):
        raise
    except Exception as exc:
        raise broker_error(f"could not move queue {name!r} to {to} on", spec.safe_url, exc) from exc
    finally:
        connection.release()
    logger.info("queue %r is a %s queue now; %d message(s) moved", name, to, moved)
    return moved


def _require_no_consumers(channel: Any, name: str) -> None:
    consumers = channel.queue_declare(name, passive=True).consumer_count
    if consumers:
        raise ConfigurationError(
            f"queue {name!r} has {consumers} consumer(s): stop the workers first (a message "
            "delivered to one cannot move)"
        )


def _move_all(channel: Any, source: str, target: str) -> int:
    """Move every message of ``source`` to ``target``: each one acked once ``target`` confirmed it."""
    moved = 0
    while (message := channel.basic_get(source, no_ack=False)) is not None:
        channel.basic_publish(message, exchange="", routing_key=target)  # waits for the confirm
        channel.basic_ack(message.delivery_tag)
        moved += 1
    return moved


def _delete_when_empty(spec: BrokerSpec, channel: Any, name: str, temporary: str) -> None:
    """Delete ``name`` once empty; what producers publish meanwhile moves to ``temporary`` too.

    A quorum queue cannot be deleted "only if empty": it is deleted once it reads empty, so a
    message published in between (producers not stopped) would be lost; ``arame reconcile``
    publishes again what its PENDING rows hold.
    """
    for _ in range(MAX_EMPTYING_ROUNDS):
        outcome = _delete_if_empty(spec, name)
        if outcome == "deleted":
            return
        if outcome == "quorum" and channel.queue_declare(name, passive=True).message_count == 0:
            channel.queue_delete(name)
            return
        _move_all(channel, name, temporary)
    raise ConfigurationError(f"queue {name!r} kept filling while being moved: stop its producers first")


def _delete_if_empty(spec: BrokerSpec, name: str) -> str:
    """``deleted``, ``not empty``, or ``quorum`` (RabbitMQ closes the connection: on one of its own)."""
    connection = connect(spec)
    try:
        connection.channel().queue_delete(name, if_empty=True)
    except Exception as exc:
        if "if-empty" in str(exc):
            return "quorum"
        if "not empty" in str(exc):
            return "not empty"
        raise
    finally:
        connection.release()
    return "deleted"
