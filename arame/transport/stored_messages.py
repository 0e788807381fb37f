"""Reading a Kombu message back from where arame's own transports store it (Redis, SQL).

Anything can be written straight into a Redis hash or the ``arame_queue`` table. A stored value
that is not a Kombu message must not make the fetch raise: the consumer would take that for a
lost connection and reconnect forever, and the value would never leave the queue. It is
delivered instead as a message whose ``decode()`` fails with the reason, so the consumer moves
it to the dead-letter queue like any other malformed message.
"""

from __future__ import annotations

from typing import Any

from kombu.utils.json import loads

from arame.transport.delivery import UNREADABLE

_REQUIRED_DICTS = ("properties", "headers")


def read_envelope(raw: str, queue: str) -> dict[str, Any]:
    """The Kombu message stored as ``raw`` in ``queue``; junk comes back as an unreadable one."""
    try:
        payload = loads(raw)
    except (ValueError, TypeError) as exc:
        return unreadable(raw, queue, f"the stored message is not JSON: {exc}")
    except RecursionError:
        return unreadable(raw, queue, "the stored message nests too deeply to be read")
    problem = _problem(payload)
    if problem is not None:
        return unreadable(raw, queue, problem)
    return payload  # type: ignore[no-any-return]


def unreadable(raw: str, queue: str, reason: str) -> dict[str, Any]:
    """A Kombu message that carries ``raw`` as it is, flagged with ``reason``."""
    return {
        "body": raw,
        "content-type": "application/octet-stream",
        "content-encoding": "utf-8",
        "headers": {UNREADABLE: reason},
        "properties": {"delivery_info": {"exchange": "", "routing_key": queue}},
    }


def _problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return f"the stored message is JSON but not a Kombu message: a {type(payload).__name__}"
    for key in _REQUIRED_DICTS:
        if not isinstance(payload.get(key) or {}, dict):
            return f"the stored message's {key!r} is not an object"
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        return f"the stored message's body is a {type(body).__name__}, not text"
    delivery_info = payload.get("properties", {}).get("delivery_info") or {}
    if not isinstance(delivery_info, dict):
        return "the stored message's delivery_info is not an object"
    return None
