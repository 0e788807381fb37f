"""Task arguments and results as JSON: the types JSON lacks (datetime, date, time, Decimal, UUID)
travel tagged as Celery (Kombu 5.3+) tags them, so either side reads the other's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any


def _tagged(value: Any) -> dict[str, Any]:
    """Celery's (Kombu 5.3+) tagged form for the types JSON lacks; called only for those."""
    # datetime before date: a datetime is a date too.
    if isinstance(value, datetime):
        return {"__type__": "datetime", "__value__": value.isoformat()}
    if isinstance(value, date):
        return {"__type__": "date", "__value__": value.isoformat()}
    if isinstance(value, time_of_day):
        return {"__type__": "time", "__value__": value.isoformat()}
    if isinstance(value, Decimal):
        return {"__type__": "decimal", "__value__": str(value)}
    if isinstance(value, uuid.UUID):
        return {"__type__": "uuid", "__value__": {"hex": value.hex}}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": lambda text: datetime.fromisoformat(text).date(),
    "time": time_of_day.fromisoformat,
    "decimal": Decimal,
    "uuid": lambda value: uuid.UUID(**value),
}


def _untagged(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and "__type__" in obj and "__value__" in obj:
        decode = _DECODERS.get(obj["__type__"])
        if decode is not None:
            return decode(obj["__value__"])
    return obj  # an unknown tag stays a plain object: tolerant, like the rest of the protocol


#: Encode arguments and results as JSON; datetime, date, time, Decimal and UUID as Celery tags them.
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_tagged).encode
_decode_tagged = json.JSONDecoder(object_hook=_untagged).decode


def decode_json(raw: bytes | str) -> Any:
    """Decode JSON written by :func:`encode_json` (or Celery), restoring the tagged types.

    Raises:
        ValueError: not JSON.
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    # Plain JSON (no tag anywhere) skips the per-object hook: one substring scan instead.
    return _decode_tagged(text) if '"__type__"' in text else json.loads(text)
