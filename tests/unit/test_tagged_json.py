"""datetime, date, time, Decimal and UUID travel as Celery 5.3+ (Kombu) tags them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import arame
from arame.json_values import decode_json, encode_json
from arame.message import TaskMessage
from arame.testing import run_until_empty

VALUES: list[Any] = [
    datetime(2024, 2, 29, 13, 45, 7, 123456, tzinfo=UTC),
    datetime(2024, 2, 29, 13, 45, 7, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2024, 2, 29, 13, 45),  # naive stays naive
    date(2024, 2, 29),
    time(13, 45, 7, 5),
    Decimal("12.3400"),
    uuid.UUID("6f1c3e1a-2b8e-4c2d-9d57-1b5e0f7f4a10"),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_a_value_round_trips_with_its_type(value: Any) -> None:
    decoded = decode_json(encode_json({"nested": [value]}))
    assert decoded == {"nested": [value]}
    assert type(decoded["nested"][0]) is type(value)


def test_the_wire_form_is_the_one_celery_and_kombu_write() -> None:
    kombu_json = pytest.importorskip("kombu.utils.json")
    for value in VALUES:
        ours = json.loads(encode_json(value))
        assert ours == json.loads(kombu_json.dumps(value))
        assert kombu_json.loads(encode_json(value)) == value
        assert decode_json(kombu_json.dumps(value)) == value


def test_plain_json_and_unknown_tags_decode_as_plain_objects() -> None:
    assert decode_json('{"a":[1,2.5,"x",null]}') == {"a": [1, 2.5, "x", None]}
    unknown = {"__type__": "frobnicator", "__value__": 1}
    assert decode_json(json.dumps(unknown)) == unknown


def test_a_message_carries_tagged_arguments() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    message = TaskMessage(id="t1", task="reports.run", args=(when, Decimal("1.5")), kwargs={"u": VALUES[-1]})
    decoded = TaskMessage.from_body(message.to_body())
    assert decoded.args == (when, Decimal("1.5"))
    assert decoded.kwargs == {"u": VALUES[-1]}


def test_arguments_and_results_of_these_types_round_trip_through_a_worker(app: arame.App) -> None:
    @app.task
    def invoice(due: date, amount: Decimal, ref: uuid.UUID, at: datetime) -> dict[str, Any]:
        assert isinstance(due, date) and isinstance(amount, Decimal) and isinstance(ref, uuid.UUID)
        return {"due": due + timedelta(days=1), "total": amount * 2, "ref": ref, "at": at}

    ref = uuid.uuid4()
    at = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    handle = invoice.delay(date(2024, 5, 31), Decimal("10.05"), ref, at)
    run_until_empty(app)
    assert handle.get(timeout=5) == {"due": date(2024, 6, 1), "total": Decimal("20.10"), "ref": ref, "at": at}
