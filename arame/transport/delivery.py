"""Delivery (one message received from a queue) and the header names arame's messages carry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.serialization import loads

from arame.errors import MessageError
from arame.transport.compressed import COMPRESSION

#: Epoch seconds before which the message must not be delivered (the publisher's clock).
NOT_BEFORE = "x-arame-not-before"
#: How many times a message has been delivered (arame's SQL and Redis count; RabbitMQ: a header).
DELIVERIES = "x-arame-deliveries"
#: How many times a quorum queue gave the message back before this delivery (RabbitMQ's count).
BROKER_DELIVERIES = "x-delivery-count"
#: Why a message was moved to its dead-letter queue.
DEAD_REASON = "x-arame-reason"
#: Header of a delivery made from a stored value that is not a Kombu message: why not.
UNREADABLE = "x-arame-unreadable"


def not_before_of(headers: Mapping[str, Any] | None) -> float | None:
    """The ``not_before`` a message carries, or ``None`` (also for a value that is not a number)."""
    value = (headers or {}).get(NOT_BEFORE)
    return float(value) if is_number(value) else None


def is_number(value: Any) -> TypeGuard[float]:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def dead_letter_queue(queue: str) -> str:
    """Where messages that cannot be run are moved: one dead-letter queue per queue."""
    return f"{queue}.dead"


class Delivery:
    """One message received from a queue, to be acknowledged or rejected exactly once.

    Must be acknowledged from the thread that drains the subscriber (Kombu channels are not
    thread-safe).
    """

    __slots__ = ("_message", "queue")

    def __init__(self, message: Any, queue: str) -> None:
        self._message = message
        self.queue = queue

    @property
    def redelivered(self) -> bool:
        """Whether this message was delivered before (and may have started running).

        A delayed message is not: on RabbitMQ it reaches the queue dead-lettered from a delay
        queue, with an ``x-death`` header but never consumed, and RabbitMQ does not flag it.
        """
        return bool(self._message.delivery_info.get("redelivered")) or (self.deliveries or 1) > 1

    @property
    def deliveries(self) -> int | None:
        """How many times it has been delivered, this time included; ``None`` if not counted.

        arame's SQL and Redis transports count in the broker; a RabbitMQ quorum queue counts in
        ``x-delivery-count`` (returns before this delivery), on top of a count arame carried in a
        header from a classic queue (see ``Subscriber._count_redelivery``); ``memory://`` does not
        count.
        """
        counted = self._message.properties.get(DELIVERIES) or self.headers.get(DELIVERIES)
        returned = self.headers.get(BROKER_DELIVERIES)
        try:
            if is_number(returned):
                return int(counted or 1) + int(returned)
            return None if counted is None else int(counted)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise MessageError(f"the header {DELIVERIES} is not a delivery count: {counted!r:.40}") from exc

    @property
    def not_before(self) -> float | None:
        """Epoch seconds before which it was not to be delivered, when it was published delayed."""
        return not_before_of(self.headers)

    @property
    def headers(self) -> dict[str, Any]:
        """The message headers."""
        return self._message.headers or {}

    @property
    def raw_body(self) -> bytes:
        """The body as received (still compressed, if it is; see ``compression``)."""
        body = self._message.body
        return body if isinstance(body, bytes) else str(body).encode()

    @property
    def compression(self) -> str | None:
        """How the body is compressed (Kombu's ``compression`` header), if it is."""
        method = self.headers.get(COMPRESSION)
        return None if method is None else str(method)

    def decode(self, body: bytes | None = None) -> Any:
        """Decode the JSON body (or ``body``: the body decompressed); any other content type is
        refused unread.

        Raises:
            MessageError: the content type is not JSON or the body does not parse, or the
                broker held something that is not a message at all.
        """
        unreadable = self.headers.get(UNREADABLE)
        if unreadable is not None:
            raise MessageError(str(unreadable))
        message = self._message
        try:
            if body is None:
                return message.decode()
            return loads(body, message.content_type, message.content_encoding, accept=message.accept)
        except ContentDisallowed as exc:
            raise MessageError(
                f"refused content type {self._message.content_type!r}: only JSON is accepted"
            ) from exc
        except (DecodeError, ValueError, TypeError) as exc:
            raise MessageError(f"the body is not valid JSON: {exc}") from exc

    def ack(self) -> None:
        """Remove the message from the broker.

        arame's Redis and SQL transports collect acknowledgements and send them together at
        the subscriber's next ``flush()`` or ``drain()``; until then the message stays leased.
        """
        self._message.ack()

    def requeue(self) -> None:
        """Give the message back to the queue for another delivery."""
        self._message.reject(requeue=True)
