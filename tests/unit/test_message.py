"""The task message protocol: encoding, tolerant decoding, and bodies that are refused."""

from __future__ import annotations

import json

import pytest

import arame
from arame.message import PROTOCOL_VERSION, TaskMessage, new_task_id


def _full_message() -> TaskMessage:
    return TaskMessage(
        id="3f1c",
        task="shop.add",
        args=(2, "three", [4, 5], {"six": 6}, None, 1.5),
        kwargs={"flag": True, "text": "héllo"},
        queue="emails",
        attempt=2,
        eta=1_700_000_000.25,
        expires=1_700_000_100.5,
        priority=7,
        created=1_699_999_999.125,
    )


def test_a_message_survives_a_round_trip_through_its_body() -> None:
    message = _full_message()
    assert TaskMessage.from_body(message.to_body()) == message


def test_a_message_decodes_from_bytes_as_well_as_text() -> None:
    message = _full_message()
    assert TaskMessage.from_body(message.to_body().encode()) == message


def test_a_minimal_message_round_trips_without_its_optional_fields() -> None:
    message = TaskMessage(id="a", task="t", created=10.0)
    body = json.loads(message.to_body())
    assert not {"eta", "expires", "priority"} & body.keys()
    assert body["v"] == PROTOCOL_VERSION
    assert TaskMessage.from_body(message.to_body()) == message


def test_fields_a_newer_writer_added_are_ignored() -> None:
    body = json.loads(_full_message().to_body())
    body.update({"v": PROTOCOL_VERSION + 1, "trace_parent": "00-abc-01", "headers": {"x": 1}})
    decoded = TaskMessage.from_body(json.dumps(body))
    assert decoded.id == "3f1c"
    assert decoded.args == _full_message().args
    assert decoded.version == PROTOCOL_VERSION + 1


def test_fields_an_older_writer_left_out_take_their_defaults() -> None:
    decoded = TaskMessage.from_body('{"id": "abc", "task": "shop.add"}')
    assert decoded.id == "abc"
    assert decoded.task == "shop.add"
    assert decoded.args == ()
    assert decoded.kwargs == {}
    assert decoded.queue == "default"
    assert decoded.attempt == 0
    assert decoded.eta is None
    assert decoded.expires is None
    assert decoded.priority is None
    assert decoded.version == PROTOCOL_VERSION


def test_a_decoded_dict_body_is_read_like_its_json_text() -> None:
    assert TaskMessage.from_body({"id": "abc", "task": "t", "args": [1]}).args == (1,)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not valid JSON"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        ("[1, 2, 3]", "JSON list, not an object"),
        ('"a string"', "not an object"),
        ('{"task": "t"}', "no string 'id'"),
        ('{"id": 42, "task": "t"}', "no string 'id'"),
        ('{"id": "", "task": "t"}', "no string 'id'"),
        ('{"id": "a"}', "no string 'task'"),
        ('{"id": "a", "task": ["t"]}', "no string 'task'"),
        ('{"id": "a", "task": "t", "args": {"x": 1}}', "'args' must be a list"),
        ('{"id": "a", "task": "t", "args": "1, 2"}', "'args' must be a list"),
        ('{"id": "a", "task": "t", "kwargs": [1]}', "'kwargs' an object"),
        ('{"id": "a", "task": "t", "attempt": "first"}', "wrong type"),
        ('{"id": "a", "task": "t", "eta": "tomorrow"}', "wrong type"),
        # Well-formed JSON, out of range: no results row could hold it, or no scale has it.
        ('{"id": "a", "task": "t", "attempt": 1e400}', "'attempt' .* out of range: inf"),
        ('{"id": "a", "task": "t", "attempt": -1}', "'attempt' .* out of range"),
        (f'{{"id": "a", "task": "t", "attempt": {2**70}}}', "'attempt' .* out of range"),
        ('{"id": "a", "task": "t", "priority": Infinity}', "'priority' .* out of range"),
        ('{"id": "a", "task": "t", "priority": 10}', "'priority' .* out of range"),
        ('{"id": "a", "task": "t", "created": NaN}', "'created' .* out of range: nan"),
        ('{"id": "a", "task": "t", "created": 1e300}', "'created' .* out of range"),
        ('{"id": "a", "task": "t", "eta": -Infinity}', "'eta' .* out of range"),
        ('{"id": "a", "task": "t", "expires": 1e20}', "'expires' .* out of range"),
        ('{"id": "a", "task": "t", "v": 1e400}', "'v' .* out of range"),
    ],
)
def test_a_body_that_breaks_the_protocol_raises_message_error(body: str | bytes, reason: str) -> None:
    with pytest.raises(arame.MessageError, match=reason) as caught:
        TaskMessage.from_body(body)
    assert caught.value.reason
    assert isinstance(caught.value, arame.ArameError)


@pytest.mark.parametrize(
    "bad",
    [object(), {1, 2}, b"bytes"],
    ids=["object", "set", "bytes"],
)
def test_arguments_that_are_not_json_raise_message_error_when_encoded(bad: object) -> None:
    with pytest.raises(arame.MessageError, match="not JSON-serialisable"):
        TaskMessage(id="a", task="shop.add", args=(bad,)).to_body()


def test_keyword_arguments_that_are_not_json_raise_message_error_when_encoded() -> None:
    with pytest.raises(arame.MessageError, match=r"'shop\.add'"):
        TaskMessage(id="a", task="shop.add", kwargs={"when": object()}).to_body()


def test_new_task_ids_are_unique_hex_strings() -> None:
    ids = {new_task_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
