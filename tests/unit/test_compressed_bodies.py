"""Compressed bodies: decompressed only so far, and never by Kombu on receipt."""

from __future__ import annotations

import bz2
import json
import lzma
import tracemalloc
import zlib

import pytest

import arame
from arame.transport import Subscriber, parse_broker_url
from arame.transport.compressed import decompressed
from arame.transport.connection import connect, kombu_queue

BODY = json.dumps({"id": "a", "task": "t", "args": list(range(100))}).encode()
METHODS = {
    "application/x-gzip": zlib.compress,  # what Kombu writes for compression="zlib"
    "application/x-bz2": bz2.compress,
    "application/x-lzma": lzma.compress,
}


@pytest.mark.parametrize("method", METHODS)
def test_a_body_within_the_limit_decompresses_to_what_was_compressed(method: str) -> None:
    assert decompressed(METHODS[method](BODY), method, len(BODY)) == BODY


@pytest.mark.parametrize("method", METHODS)
def test_a_body_over_the_limit_once_decompressed_is_refused(method: str) -> None:
    assert decompressed(METHODS[method](BODY), method, len(BODY) - 1) is None


def test_a_bomb_is_refused_holding_no_more_than_the_limit() -> None:
    packer, chunk = zlib.compressobj(9), bytes(1024 * 1024)
    bomb = b"".join(packer.compress(chunk) for _ in range(64)) + packer.flush()  # 64 MiB of zeros
    limit = 1024 * 1024

    tracemalloc.start()
    try:
        assert decompressed(bomb, "zlib", limit) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 3 * limit, f"{peak} bytes held to refuse it"


@pytest.mark.parametrize(
    ("body", "method", "reason"),
    [
        (zlib.compress(BODY), "snappy", "compressed with 'snappy'"),
        (b"not compressed at all", "zlib", "cannot be decompressed"),
        (zlib.compress(BODY)[:-8], "zlib", "truncated"),
        (zlib.compress(BODY) + b"more", "zlib", "data after its end"),
    ],
    ids=["unknown-method", "not-compressed", "truncated", "trailing-data"],
)
def test_a_body_that_is_not_what_its_method_makes_is_refused(body: bytes, method: str, reason: str) -> None:
    with pytest.raises(arame.MessageError, match=reason):
        decompressed(body, method, 1024 * 1024)


def test_a_received_message_keeps_its_compressed_body_and_says_how_it_is_compressed() -> None:
    spec = parse_broker_url("memory://")
    with connect(spec) as connection:  # a producer that compresses, as Kombu's does
        connection.Producer(auto_declare=False).publish(
            BODY.decode(),
            routing_key="compressed",
            declare=[kombu_queue(spec, "compressed")],
            content_type="application/json",
            content_encoding="utf-8",
            compression="zlib",
        )
    received: list[arame.transport.Delivery] = []
    subscriber = Subscriber(spec, ["compressed"], 1, received.append)
    subscriber.open()
    try:
        subscriber.drain(5)
    finally:
        subscriber.close()

    [delivery] = received
    assert delivery.compression == "application/x-gzip"
    assert delivery.raw_body == zlib.compress(BODY)
