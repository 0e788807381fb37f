"""Producer: publish task messages, safely from many threads and after a fork."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from arame.encoding import encode
from arame.errors import PublishError, TransportError
from arame.message import TaskMessage
from arame.signing import Signer
from arame.transport import BrokerSpec, Outgoing, Publisher

logger = logging.getLogger(__name__)


class Producer:
    """Publishes TaskMessages (encoded and signed) and returns once the broker stored them; the
    transport's ``Publisher`` below it only moves bodies.

    One connection per process, shared by threads under a lock (Kombu connections are not
    thread-safe); a forked child opens its own.

    Args:
        spec: the broker.
        max_retries: reconnect attempts after a lost connection before ``PublishError``.
        max_message_size: bytes; a larger body is refused before it is sent.
        signer: when set, every body is signed.
    """

    def __init__(
        self,
        spec: BrokerSpec,
        *,
        max_retries: int = 3,
        max_message_size: int | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.spec = spec
        self.max_message_size = max_message_size
        self._signer = signer
        self._max_retries = max_retries
        self._lock = threading.Lock()
        self._publisher: Publisher | None = None
        self._pid = 0

    def publish(self, message: TaskMessage, body: str | None = None) -> None:
        """Publish ``message`` to its queue (``body``: its ``to_body()``, when the caller has it).

        Raises:
            PublishError: the broker did not store it (the cause is chained).
        """
        outgoing = self._outgoing(message, body)
        with self._lock:
            publisher = self._publisher_for_this_process()
            try:
                publisher.publish(
                    outgoing.body, outgoing.queue, outgoing.priority, outgoing.headers, outgoing.not_before
                )
            except TransportError as exc:
                raise PublishError(
                    f"task {message.id} ({message.task}) was not published: {exc}",
                    url=self.spec.safe_url,
                    task_id=message.id,
                ) from exc

    def publish_many(self, messages: Sequence[TaskMessage], bodies: Sequence[str] | None = None) -> None:
        """Publish every message, as one transaction where the broker has them (RabbitMQ).

        ``bodies``, when given, are the messages' ``to_body()``, in order.

        Raises:
            PublishError: the broker did not store them all (on RabbitMQ: none of them).
        """
        if bodies is None:
            batch = [self._outgoing(message) for message in messages]
        else:
            batch = [self._outgoing(message, body) for message, body in zip(messages, bodies, strict=True)]
        with self._lock:
            publisher = self._publisher_for_this_process()
            try:
                publisher.publish_many(batch)
            except TransportError as exc:
                raise PublishError(
                    f"{len(batch)} tasks were not all published: {exc}", url=self.spec.safe_url
                ) from exc

    def check(self, message: TaskMessage, body: str | None = None) -> None:
        """Refuse, as ``publish`` would before sending, a message that cannot go out (its size).

        Raises:
            PublishError: it cannot be published, however often it is tried.
        """
        self._outgoing(message, body)

    def _outgoing(self, message: TaskMessage, body: str | None = None) -> Outgoing:
        """Encode (unless ``body`` is given), size-check and sign one message."""
        return encode(
            message, self._signer, max_size=self.max_message_size, url=self.spec.safe_url, body=body
        )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._publisher is not None and self._pid == os.getpid():
                self._publisher.close()
            self._publisher = None

    def _publisher_for_this_process(self) -> Publisher:
        if self._publisher is None or self._pid != os.getpid():
            # A connection inherited through fork is the parent's socket: never touch it.
            self._publisher = Publisher(self.spec, max_retries=self._max_retries)
            self._pid = os.getpid()
        return self._publisher
