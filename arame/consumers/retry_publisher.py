"""Retries: whether a failed attempt runs again and after how long, and publishing the next attempt."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import replace

from arame.encoding import encode
from arame.errors import Retry, TransportError
from arame.message import TaskMessage
from arame.signing import Signer
from arame.states import Outcome
from arame.task import TaskOptions
from arame.transport import BrokerSpec, Publisher

logger = logging.getLogger(__name__)


def retry_delay(options: TaskOptions, exc: BaseException, attempts: int) -> float | None:
    """Seconds until the next attempt, or ``None`` when this failure is final.

    Args:
        options: the task's retry options.
        exc: what the attempt raised.
        attempts: attempts made so far, this one included.
    """
    asked = isinstance(exc, Retry)
    if not asked and not (options.autoretry_for and isinstance(exc, options.autoretry_for)):
        return None
    limit = exc.max_retries if isinstance(exc, Retry) and exc.max_retries is not None else options.max_retries
    if attempts > limit:  # max_retries counts retries: attempts = retries + 1
        return None
    if isinstance(exc, Retry) and exc.countdown is not None:
        return max(0.0, float(exc.countdown))
    if options.retry_backoff:
        first = 1.0 if options.retry_backoff is True else float(options.retry_backoff)
        delay = min(first * 2 ** (attempts - 1), options.retry_backoff_max)
    else:
        delay = options.retry_delay
    # Jitter spreads the retries of many tasks that failed together (a dependency went down).
    return random.uniform(0, delay) if options.retry_jitter else delay


class RetryPublisher:
    """Publishes a task's next attempt, delayed in the broker, encoded as the producer encodes it.

    Args:
        spec: the broker.
        signer: when set, the retry is signed (as the first attempt was).
    """

    def __init__(self, spec: BrokerSpec, signer: Signer | None) -> None:
        self._publisher = Publisher(spec)
        self._signer = signer
        self._lock = threading.Lock()

    def publish(self, message: TaskMessage, outcome: Outcome) -> bool:
        """Publish the next attempt; return whether the broker stored it (ack this one only then)."""
        retry = replace(message, attempt=message.attempt + 1, eta=outcome.retry_at)
        outgoing = encode(retry, self._signer)
        try:
            with self._lock:
                self._publisher.publish(
                    outgoing.body, outgoing.queue, outgoing.priority, outgoing.headers, outgoing.not_before
                )
        except TransportError as exc:
            logger.warning("could not publish the retry of task %s: %s", message.id, exc)
            return False
        return True

    def publish_later(self, messages: Sequence[TaskMessage]) -> None:
        """Publish messages again as they are, each held by the broker until its ``eta``.

        A task an extension holds back at claim time waits in the broker this way (see ``Deferring``).

        Raises:
            TransportError: the broker did not take them; their deliveries must go back.
        """
        outgoing = [encode(message, self._signer) for message in messages]
        with self._lock:
            self._publisher.publish_many(outgoing)

    def close(self) -> None:
        """Close the connection."""
        self._publisher.close()
