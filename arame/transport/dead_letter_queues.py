"""Dead-letter queues: look at what was moved aside, put it back, or delete it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arame.transport.broker_urls import BrokerSpec
from arame.transport.connection import connect, kombu_queue
from arame.transport.delivery import DEAD_REASON, dead_letter_queue
from arame.transport.failures import broker_error

MAX_HEADER_DEPTH = 32


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message in a dead-letter queue.

    Attributes:
        queue: the queue it was moved from.
        body: the body as it arrived.
        reason: why it was moved aside.
        content_type: its content type.
        headers: its headers, the reason included.
    """

    queue: str
    body: bytes
    reason: str
    content_type: str | None
    headers: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str | None:
        """The task id in the body, when the body is a JSON object that has one."""
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError):  # a body nested deeper than Python recurses is no task
            return None
        task_id = data.get("id") if isinstance(data, dict) else None
        return task_id if isinstance(task_id, str) else None


def bounded(value: Any, depth: int = MAX_HEADER_DEPTH) -> Any:
    """``value`` with anything nested deeper than ``depth`` replaced by a short text.

    A dead letter of a dead letter may carry headers nested deeper than whoever prints or
    re-encodes them can recurse.
    """
    if isinstance(value, dict):
        if depth <= 0:
            return f"<object nested deeper than {MAX_HEADER_DEPTH} levels>"
        return {key: bounded(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if depth <= 0:
            return f"<list nested deeper than {MAX_HEADER_DEPTH} levels>"
        return [bounded(item, depth - 1) for item in value]
    return value


def list_dead(spec: BrokerSpec, queue: str, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` messages of ``queue``'s dead-letter queue; they stay there.

    Raises:
        TransportError: the broker does not answer.
    """
    return _walk(spec, queue, limit, lambda _letter, _message, _conn: False)


def requeue_dead(
    spec: BrokerSpec,
    queue: str,
    task_id: str | None = None,
    limit: int = 1000,
    before: Callable[[DeadLetter], None] | None = None,
) -> int:
    """Publish dead letters back to ``queue`` (all, or the one with ``task_id``); return how many.

    ``before`` is called with each letter just before it is published again (to reopen its row:
    a worker may take the message the moment it is back).

    Raises:
        TransportError: the broker does not answer.
    """

    def put_back(letter: DeadLetter, message: Any, connection: Any) -> bool:
        if task_id is not None and letter.task_id != task_id:
            return False
        if before is not None:
            before(letter)
        headers = {k: v for k, v in letter.headers.items() if k != DEAD_REASON}
        connection.Producer(auto_declare=False).publish(
            letter.body,
            exchange="",
            routing_key=queue,
            declare=[kombu_queue(spec, queue)],
            content_type=letter.content_type,
            content_encoding=message.content_encoding or "binary",
            headers=headers,
            delivery_mode=2,
        )
        return True

    return len(_walk(spec, queue, limit, put_back, consume=True))


def _reason(headers: dict[str, Any]) -> str:
    """arame's reason, else the broker's (a quorum queue past its delivery limit: ``delivery_limit``)."""
    if DEAD_REASON in headers:
        return str(headers[DEAD_REASON])
    deaths = headers.get("x-death")
    death = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
    return f"moved by the broker: {death['reason']}" if "reason" in death else ""


def _walk(
    spec: BrokerSpec,
    queue: str,
    limit: int,
    take: Callable[[DeadLetter, Any, Any], bool],
    *,
    consume: bool = False,
) -> list[DeadLetter]:
    """Get up to ``limit`` dead letters; ack those ``take`` accepts; give the rest back."""
    connection = connect(spec)
    found: list[DeadLetter] = []
    kept: list[Any] = []  # given back only at the end, so a get() never returns one twice
    seen: set[Any] = set()
    try:
        dead = kombu_queue(spec, dead_letter_queue(queue))(connection.default_channel)
        dead.declare()
        for _ in range(limit):
            message = dead.get(no_ack=False)
            if message is None:
                break
            if message.delivery_tag in seen:
                # Its lease ran out while the walk went on (a slow database, a long list): it is
                # here already; this copy goes back with the others.
                kept.append(message)
                continue
            seen.add(message.delivery_tag)
            body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
            headers = bounded(dict(message.headers or {}))
            letter = DeadLetter(queue, body, _reason(headers), message.content_type, headers)
            if take(letter, message, connection):
                message.ack()
                found.append(letter)
                continue
            kept.append(message)
            if not consume:
                found.append(letter)
        # Explicitly, not by closing: memory:// drops what a closing channel still holds.
        for message in kept:
            message.reject(requeue=True)
    except Exception as exc:
        raise broker_error(f"could not read dead letters of {queue!r} on", spec.safe_url, exc) from exc
    finally:
        connection.release()  # after an error, what was not settled returns with the connection
    return found
